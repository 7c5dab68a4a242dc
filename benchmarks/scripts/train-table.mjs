// The engine-vs-PyTorch table of benchmarks/RESULTS.md from bench:train's JSON files, one per
// model, e.g. (on an otherwise idle machine):
//   for m in gpt2-small gpt2-medium qwen2.5-0.5b; do
//     npm run bench:train -- --model $m --task classifier --batch-size 8 --seq-len 128 \
//       --steps 10 --threads 1,2 --no-tfjs --pytorch --json /tmp/bt-$m.json
//   done
//   node benchmarks/scripts/train-table.mjs /tmp/bt-*.json
// Prints Markdown: per model and thread count, tokens/s of the engine and of the fastest PyTorch
// row and their ratio (both from the same run), MFU of each against the CPU peak, resident bytes per
// parameter (measured, and the engine's estimate); then each file's machine, load and peak.
import { readFileSync } from 'node:fs';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node benchmarks/scripts/train-table.mjs BENCH_TRAIN_JSON...');
  process.exit(2);
}
const pct = (x) => (x === undefined ? '' : `${(100 * x).toFixed(1)}%`);
const num = (x, digits = 1) => (x === undefined ? '' : x.toFixed(digits));
const lines = [
  '| model | task | batch × T | threads | engine (tokens/s) | the fastest PyTorch (tokens/s; its threads + BLAS threads) | engine ÷ PyTorch | engine MFU | PyTorch MFU | engine bytes/param (estimate) | PyTorch bytes/param |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
const notes = [];
for (const file of files) {
  const rows = JSON.parse(readFileSync(file, 'utf8'));
  const machine = rows.find((r) => r.impl === 'machine');
  const timed = rows.filter((r) => 'msPerStep' in r);
  for (const native of timed.filter((r) => r.impl === 'native')) {
    // The fastest PyTorch row on this thread count (bench:train runs two configurations on t > 1).
    const torch = timed
      .filter((r) => r.impl === 'pytorch' && r.threads === native.threads)
      .reduce((best, r) => (best && best.msPerStep <= r.msPerStep ? best : r), undefined);
    const config = torch?.pytorchThreads ? ` (${torch.pytorchThreads.intraOp} + BLAS ${torch.pytorchThreads.blas})` : '';
    const params = `${(native.parameters / 1e6).toFixed(1)} M`;
    lines.push(
      `| ${native.model} (d ${native.dModel}, ${native.layers} layers, ${native.heads} heads, vocab ${native.vocab}, ${params}) | ${native.task} | ${native.batch} × ${native.seqLen} | ${native.threads} | ` +
        `${num(native.tokensPerSecond)} | ${num(torch?.tokensPerSecond)}${config} | ${torch ? `${(native.tokensPerSecond / torch.tokensPerSecond).toFixed(2)}×` : ''} | ` +
        `${pct(native.mfu)} | ${pct(torch?.mfu)} | ${num(native.memory.bytesPerParameter)} (${num(native.memory.estimateBytes / native.parameters)}) | ${num(torch?.memory.bytesPerParameter)} |`,
    );
  }
  if (machine)
    notes.push(
      `- ${file}: ${machine.cpu}, ${machine.logicalCores} logical cores, Node ${machine.node}; load average at the start ${machine.loadAverage.map((x) => x.toFixed(2)).join(', ')}; ` +
        `${timed.find((r) => r.impl === 'pytorch')?.note ?? 'no PyTorch rows'}.\n  Peak: ${machine.peak.derivation.join('; ')}.`,
    );
}
console.log(lines.join('\n'));
console.log('\n' + notes.join('\n'));
