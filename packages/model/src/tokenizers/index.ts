// Tokenizers behind one interface: Hugging Face tokenizer folders, GPT-2's BPE, llama2.c's
// tokenizer files, and the byte-level tokenizer of the project's own small models; batch encoding with explicit padding and
// truncation.
export type { EncodeOptions, Tokenizer } from './tokenizer.js';
export { ByteTokenizer } from './byte.js';
export { Gpt2Tokenizer } from './gpt2.js';
export { HfTokenizer, statedTokenizerConfig } from './hf.js';
export { Llama2cTokenizer } from './llama2c.js';
export { encodeBatch, type BatchOptions, type EncodedBatch } from './batch.js';
export { shrinkBpeTokenizer, type ShrunkTokenizer } from './shrink.js';
export { TOKENIZER_FILE, checkpointTokenizerSpec, loadTokenizer } from './load.js';
