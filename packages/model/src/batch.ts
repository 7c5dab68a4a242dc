// A batch of token sequences, as the native engine and the tfjs twin both take it.
// Layouts: tokens [batch·seqLen] int32, row-major, right-padded (pad positions hold any valid id);
// lengths [batch], each in 1..seqLen (positions ≥ lengths[b] are padding).
// Also declared in native/index.d.ts (RawBatch), engine.h and the binding's parse_batch; its fields,
// and the checks of the binding and the twin, are compared by test/native-declarations.test.ts.
export interface Batch {
  tokens: Int32Array;
  lengths: Int32Array;
  batch: number;
  seqLen: number;
}
