// Whole checkpoints on disk.
//   Hugging Face directory (gpt2, llama, mistral, qwen2, gpt_neox): config.json (hf-config.ts) plus
//     model.safetensors (F32, F16, BF16, ...), or
//     model.safetensors.index.json ({"weight_map": {tensor name: shard file name}}) and its shards
//     in the same directory (tensor names and layouts: hf-weights.ts).
//   llama2.c: a single .bin file (llama2c.ts).
// saveCheckpoint writes the Hugging Face form: model.safetensors (F32, metadata {"format": "pt"}
// as transformers expects) and config.json, each atomically, creating the directory.
import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ModelConfig, Weights } from '../config.js';
import { blame, CheckpointError } from './errors.js';
import { configFromHf, configToHf } from './hf-config.js';
import { weightsFromHf, weightsToHf, type HfTensor } from './hf-weights.js';
import { isObject, readJson, writeAtomic } from './io.js';
import { readLlama2c } from './llama2c.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export interface Checkpoint {
  config: ModelConfig;
  weights: Weights;
}

async function isFile(file: string): Promise<boolean> {
  return stat(file).then((s) => s.isFile(), () => false);
}

async function readShards(dir: string, indexFile: string): Promise<Map<string, HfTensor>> {
  const index = await readJson(indexFile);
  if (!isObject(index) || !isObject(index.weight_map)) throw new CheckpointError(indexFile, 'weight_map is missing or not an object');
  const weightMap = index.weight_map;
  const shards = new Set<string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '' || shard === '.' || shard === '..')
      throw new CheckpointError(indexFile, `weight_map["${name}"] must be a file name in the same directory, got ${JSON.stringify(shard)}`);
    shards.add(shard);
  }
  const tensors = new Map<string, HfTensor>();
  for (const shard of shards) {
    const file = join(dir, shard);
    for (const [name, tensor] of (await readSafetensors(file)).tensors) {
      const listed = Object.hasOwn(weightMap, name) ? weightMap[name] : undefined;
      if (listed !== shard) throw new CheckpointError(file, `tensor "${name}" is in this shard, but ${indexFile} maps it to ${JSON.stringify(listed ?? null)}`);
      tensors.set(name, { ...tensor, file });
    }
  }
  for (const [name, shard] of Object.entries(weightMap))
    if (!tensors.has(name)) throw new CheckpointError(join(dir, shard as string), `tensor "${name}", listed in ${indexFile}, is not in this shard`);
  return tensors;
}

async function loadHfDirectory(dir: string): Promise<Checkpoint> {
  const configFile = join(dir, 'config.json');
  const config = configFromHf(await readJson(configFile), configFile);
  const single = join(dir, 'model.safetensors');
  if (await isFile(single)) return { config, weights: weightsFromHf(config, (await readSafetensors(single)).tensors, single) };
  const index = join(dir, 'model.safetensors.index.json');
  if (await isFile(index)) return { config, weights: weightsFromHf(config, await readShards(dir, index), index) };
  throw new CheckpointError(dir, 'no model.safetensors or model.safetensors.index.json (only safetensors checkpoints are supported)');
}

/** Loads a Hugging Face checkpoint directory or a llama2.c .bin file. */
export async function loadCheckpoint(path: string): Promise<Checkpoint> {
  const info = await stat(path).catch((err: Error) => {
    throw new CheckpointError(path, `cannot read: ${err.message}`);
  });
  if (info.isDirectory()) return loadHfDirectory(path);
  if (path.endsWith('.safetensors') || path.endsWith('.json'))
    throw new CheckpointError(path, 'pass the Hugging Face checkpoint directory (with config.json), not one of its files');
  return readLlama2c(path);
}

/** Writes config.json and model.safetensors into `dir` (created if needed), each atomically. */
export async function saveCheckpoint(dir: string, config: ModelConfig, weights: Weights): Promise<void> {
  const weightsFile = join(dir, 'model.safetensors');
  const json = blame(dir, () => configToHf(config));
  const tensors = weightsToHf(config, weights, weightsFile);
  await mkdir(dir, { recursive: true }).catch((err: Error) => {
    throw new CheckpointError(dir, `cannot create directory: ${err.message}`);
  });
  await writeSafetensors(weightsFile, tensors, { format: 'pt' });
  await writeAtomic(join(dir, 'config.json'), `${JSON.stringify(json, null, 2)}\n`);
}
