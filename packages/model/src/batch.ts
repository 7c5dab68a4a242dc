// A batch of token sequences, as the native engine and the tfjs twin both take it.
// Layouts: tokens [batch·seqLen] int32, row-major, right-padded (pad positions hold any valid id);
// lengths [batch], each in 1..seqLen (positions ≥ lengths[b] are padding).
export interface Batch {
  tokens: Int32Array;
  lengths: Int32Array;
  batch: number;
  seqLen: number;
}
