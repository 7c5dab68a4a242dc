// A batch of token sequences, as the native engine and the tfjs twin both take it: the engine's
// RawBatch, declared (with its layouts) once, in native/index.d.ts. The binding's parse_batch and
// engine.h's struct are checked against that declaration, and the checks of the binding and the
// twin against each other, by test/native-declarations.test.ts.
import type { RawBatch } from '@w2s/native';

export type Batch = RawBatch;
