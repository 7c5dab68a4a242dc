// `w2s pretrain`: causal language-model pretraining of a model of the project's family on a text
// corpus, with periodic checkpoints; rerunning the same command resumes from the last one. The
// output folder is a checkpoint usable wherever a MODEL is accepted.
import { resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import cliProgress from 'cli-progress';
import { DEFAULT_PRETRAIN_SETTINGS, pretrain } from '@w2s/pipeline';
import { FAMILY, FAMILY_TOKENIZER, loadTokenizer } from '@w2s/model';
import { integerOption, numberOption } from '../options.js';
import { addDeviceOptions, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';

interface PretrainFlags extends DeviceFlags {
  corpus: string;
  textField: string;
  model: string;
  tokenizer: string;
  tokens: number;
  out: string;
  seqLen: number;
  batchSize: number;
  lr: number;
  checkpointEvery: number;
  seed: number;
  threads?: number;
  json: boolean;
}

function familyName(value: string): string {
  if (!Object.hasOwn(FAMILY, value)) throw new InvalidArgumentError(`expected one of ${Object.keys(FAMILY).join(', ')}, got "${value}"`);
  return value;
}

export async function runPretrain(flags: PretrainFlags): Promise<void> {
  applyThreads(flags.threads);
  useDevice(flags);
  const bar = process.stderr.isTTY
    ? new cliProgress.SingleBar({ stream: process.stderr, format: ' {bar} {value}/{total} steps | loss {loss} | {rate} tokens/s | eta {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic)
    : null;
  let lastLine = 0;
  // The family's architecture over the tokenizer's vocabulary.
  const tokenizerSpec = flags.tokenizer === FAMILY_TOKENIZER || flags.tokenizer === 'gpt2' ? flags.tokenizer : resolve(flags.tokenizer);
  let vocabSize: number;
  try {
    vocabSize = (await loadTokenizer(tokenizerSpec)).vocabSize;
  } catch (e) {
    throw new Error(`--tokenizer: ${(e as Error).message}`, { cause: e });
  }
  const result = await pretrain({
    corpus: resolve(flags.corpus),
    textField: flags.textField,
    config: { ...FAMILY[flags.model], vocabSize },
    tokenizerSpec,
    modelName: flags.model,
    out: resolve(flags.out),
    settings: { ...DEFAULT_PRETRAIN_SETTINGS, tokens: flags.tokens, seqLen: flags.seqLen, batchSize: flags.batchSize, lr: flags.lr, checkpointEvery: flags.checkpointEvery, seed: flags.seed },
    onResume: (step) => process.stderr.write(`resuming from the checkpoint at step ${step}\n`),
    onStep: ({ step, totalSteps, loss, tokensPerSecond }) => {
      const values = { loss: loss.toFixed(3), rate: Math.round(tokensPerSecond) };
      if (bar) {
        if (step === 1 || !bar.getTotal()) bar.start(totalSteps, step, values);
        bar.update(step, values);
      } else if (Date.now() - lastLine > 5000 || step === totalSteps) {
        lastLine = Date.now();
        process.stderr.write(`step ${step}/${totalSteps} loss ${values.loss} ${values.rate} tokens/s\n`);
      }
    },
  });
  bar?.stop();
  if (flags.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else process.stdout.write(`pretrained ${flags.model}: ${result.steps} steps, final loss ${result.finalLoss.toFixed(4)}, ${Math.round(result.tokensPerSecond)} tokens/s; checkpoint in ${resolve(flags.out)}\n`);
}

export function pretrainCommand(): Command {
  const d = DEFAULT_PRETRAIN_SETTINGS;
  const command = new Command('pretrain')
    .description('causal language-model pretraining of a family model on a text corpus (resumes where it stopped)')
    .requiredOption('--corpus <path>', 'plain text, or JSONL with one document per line')
    .option('--text-field <name>', 'JSONL: the field holding the text', 'text')
    .requiredOption('--model <size>', `a family size: ${Object.keys(FAMILY).join(', ')}`, familyName)
    .option('--tokenizer <spec>', `the tokenizer, whose vocabulary sizes the model: a Hugging Face tokenizer folder or tokenizer.json (its files copied into --out), a llama2.c tokenizer .bin, "gpt2" or "${FAMILY_TOKENIZER}"`, FAMILY_TOKENIZER)
    .requiredOption('--tokens <n>', 'tokens to train on', integerOption(1))
    .requiredOption('--out <dir>', 'checkpoint folder (also holds the resumable state)')
    .option('--seq-len <n>', 'tokens per training window', integerOption(2, 65536), d.seqLen)
    .option('--batch-size <n>', 'windows per step', integerOption(1, 65536), d.batchSize)
    .option('--lr <x>', 'peak learning rate (linear warm-up, cosine decay)', numberOption(0, 10), d.lr)
    .option('--checkpoint-every <n>', 'steps between resumable checkpoints (0: at the end only)', integerOption(0), d.checkpointEvery)
    .option('--seed <n>', 'seed of the initial weights and of the data order', integerOption(0, 2 ** 31 - 1), d.seed)
    .option('--threads <n>', 'CPU threads (default: all cores)', integerOption(1, 4096))
    .option('--json', 'print the result as JSON', false);
  return addDeviceOptions(command).action(async (flags: PretrainFlags) => runPretrain(flags));
}
