// `w2s generate`: text from a language-model checkpoint with the native engine. The generated text
// alone goes to stdout; nothing else is printed there.
import { Command } from 'commander';
import { NativeModel, checkpointTokenizerSpec, generate, loadCheckpoint, loadTokenizer, type ModelConfig, type Tokenizer } from '@w2s/model';
import { integerOption, numberOption } from '../options.js';
import { addDeviceOptions, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';

interface GenerateFlags extends DeviceFlags {
  checkpoint: string;
  tokenizer?: string;
  prompt: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  threads?: number;
}

export async function runGenerate(flags: GenerateFlags, write: (text: string) => void): Promise<void> {
  applyThreads(flags.threads);
  useDevice(flags);
  const { config, weights } = await loadCheckpoint(flags.checkpoint);
  if (config.head.kind !== 'lm') throw new Error(`${flags.checkpoint} has a classifier head: generation needs a language model`);
  const tokenizer: Tokenizer = await loadTokenizer(flags.tokenizer ?? checkpointTokenizerSpec(flags.checkpoint, config));
  if (tokenizer.vocabSize > config.vocabSize)
    throw new Error(`the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${config.vocabSize}`);
  // The prompt gets the special tokens the tokenizer's files say (GPT-2, Pythia, Qwen2: none; Llama 2
  // and llama2.c: BOS), as transformers encodes it; an empty prompt starts from BOS, as
  // transformers' generate() does without input ids.
  const encoded = tokenizer.encode(flags.prompt, tokenizer.specials);
  const prompt = encoded.length === 0 && tokenizer.bosId !== null ? [tokenizer.bosId] : encoded;
  if (prompt.length === 0) throw new Error('the prompt is empty and the tokenizer has no BOS token to start from');
  const model = new NativeModel(config, { weights });
  const stopIds = [tokenizer.eosId, tokenizer.bosId].filter((id): id is number => id !== null);
  const generated = await generate(model, prompt, { maxTokens: flags.maxTokens, temperature: flags.temperature, seed: flags.seed, stopIds });
  const text = tokenizer.decode([...prompt, ...generated]).slice(tokenizer.decode(prompt).length);
  write(text + '\n');
}

export function generateCommand(): Command {
  const command = new Command('generate')
    .description('generate text from a language-model checkpoint (temperature 0: greedy)')
    .requiredOption('--checkpoint <path>', 'llama2.c .bin file, or a Hugging Face directory (config.json + safetensors)')
    .option('--tokenizer <spec>', 'Hugging Face tokenizer folder or tokenizer.json, llama2.c tokenizer .bin, "gpt2" or "byte" (default: the checkpoint folder\'s own tokenizer, tok{vocab}.bin beside it, or gpt2)')
    .option('--prompt <text>', 'text to continue (default: start from BOS)', '')
    .requiredOption('--max-tokens <n>', 'tokens to generate at most', integerOption(0, 1_000_000))
    .option('--temperature <t>', 'sampling temperature, 0 for greedy', numberOption(0, 100), 0)
    .option('--seed <n>', 'seed of the sampler', integerOption(0, 2 ** 32 - 1), 0)
    .option('--threads <n>', 'CPU threads (default: all cores)', integerOption(1, 4096));
  return addDeviceOptions(command).action(async (flags: GenerateFlags) => runGenerate(flags, (text) => process.stdout.write(text)));
}
