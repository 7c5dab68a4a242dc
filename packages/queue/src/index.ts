// @w2s/queue: sweeps beyond one machine. The sweep's runs as a BullMQ flow on Redis
// (jobs.ts), `w2s sweep --queue` enqueuing it (sweep.ts) and following it (follower.ts, the
// executor under @w2s/pipeline's scheduler), workers on any number of machines (worker.ts), run
// artifacts through Redis or a shared folder (artifacts.ts).
export * from './connection.js';
export * from './jobs.js';
export * from './artifacts.js';
export * from './resources.js';
export * from './worker.js';
export * from './follower.js';
export * from './sweep.js';
