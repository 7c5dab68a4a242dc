// Checkpoint I/O: safetensors files, Hugging Face checkpoint directories (gpt2, llama, mistral,
// qwen2, gpt_neox) and llama2.c .bin files, all to and from the canonical ModelConfig and Weights
// of config.ts.
export { CheckpointError } from './errors.js';
export {
  MAX_HEADER_BYTES,
  encodeSafetensors,
  parseSafetensors,
  readSafetensors,
  writeSafetensors,
  type SafetensorsFile,
  type SafetensorsTensor,
  type TensorToWrite,
} from './safetensors.js';
export { configFromHf, configToHf } from './hf-config.js';
export { weightsFromHf, weightsToHf, type HfTensor } from './hf-weights.js';
export { parseLlama2c, readLlama2c } from './llama2c.js';
export { checkWeights } from './weights.js';
export { loadCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
