// @w2s/pipeline: classifier training on the native engine, the weak-to-strong experiment, its
// results store, sweeps and reports.
export * from './summary.js';
export * from './schedules.js';
export * from './losses.js';
export * from './metrics.js';
export * from './encode.js';
export * from './models.js';
export * from './data.js';
export * from './options.js';
export * from './settings.js';
export * from './train.js';
export * from './store.js';
export * from './runs.js';
export * from './experiment.js';
export * from './sweep/index.js';
export * from './report/index.js';
export * from './pretrain.js';
export * from './hash.js';
