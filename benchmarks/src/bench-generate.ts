// `npm run bench-generate`: greedy generation speed of the native engine on gpt2-small (random
// weights from a fixed seed; the speed does not depend on them), N new tokens (default 256) after an
// 8-token prompt, with the key/value cache (NativeModel.nextTokenLogits: one position per new token)
// and without it (every token reruns the full forward pass over its context). Prints tokens/s of
// each and checks that both generate the same tokens.
import { Command, InvalidArgumentError } from 'commander';
import { backendInfo } from '@w2s/kernels';
import { NativeModel, PRESETS, generate, type NextTokenModel } from '@w2s/model';

const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a positive integer');
  return n;
};
const opts = new Command()
  .option('--tokens <n>', 'new tokens to generate', positive, 256)
  .option('--preset <name>', 'model preset', 'gpt2-small')
  .parse()
  .opts<{ tokens: number; preset: string }>();

const config = PRESETS[opts.preset];
if (!config) throw new Error(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got ${opts.preset}`);
const model = new NativeModel(config, { seed: 1 });
const prompt = [464, 2068, 7586, 21831, 18045, 625, 262, 16931].map((t) => t % config.vocabSize);
const uncached: NextTokenModel = {
  config,
  nextTokenLogits: (context) =>
    model.forward({ tokens: Int32Array.from(context), lengths: Int32Array.of(context.length), batch: 1, seqLen: context.length }, { logitsAt: 'last' }),
};

async function timed(label: string, m: NextTokenModel): Promise<number[]> {
  const start = process.hrtime.bigint();
  const tokens = await generate(m, prompt, { maxTokens: opts.tokens });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(`${label.padEnd(22)} ${opts.tokens} tokens in ${seconds.toFixed(2)} s: ${(opts.tokens / seconds).toFixed(2)} tokens/s`);
  return tokens;
}

console.log(`${opts.preset}, ${backendInfo().threads} threads, prompt ${prompt.length} tokens`);
const withCache = await timed('key/value cache', model);
const without = await timed('no cache (full forward)', uncached);
const same = withCache.every((t, i) => t === without[i]);
console.log(same ? 'both generated the same tokens' : 'the generated tokens differ');
model.dispose();
if (!same) process.exit(1);
