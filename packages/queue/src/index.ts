// @w2s/queue: sweeps beyond one machine. The sweep's runs as a BullMQ flow on Redis
// (jobs.ts), `w2s sweep --queue` enqueuing and following it (sweep.ts), workers on any number of
// machines (worker.ts), run artifacts through Redis or a shared folder (artifacts.ts).
export * from './connection.js';
export * from './jobs.js';
export * from './artifacts.js';
export * from './resources.js';
export * from './worker.js';
export * from './sweep.js';
