// The native addon, loaded once. Everything that calls into C++ goes through this module.
import { createRequire } from 'node:module';
import type * as Native from '@w2s/native';

const require = createRequire(import.meta.url);

export const native: typeof Native = require('@w2s/native');
