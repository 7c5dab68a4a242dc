// `w2s demo`: weak-to-strong generalization on any machine, with no downloads. Generates the
// synthetic world and its corpus, pretrains the family's small sizes on it (cached, so reruns
// reuse them), runs weak ground-truth, ceiling and transfer training with xent and logconf for
// several weak → strong pairs over a few seeds (every run cached in the results store), prints the
// paper-style tables with PGR, and writes the report (Markdown and SVG plots).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { DEMO_WORLD, TRAITS, generateWorld, worldCorpus } from "@w2s/data";
import { FAMILY, FAMILY_TOKENIZER } from '@w2s/model';
import {
  DEFAULT_LOSS_OPTIONS,
  DEFAULT_PRETRAIN_SETTINGS,
  DEFAULT_TRAIN_SETTINGS,
  ResultsStore,
  canonicalJson,
  configHash,
  pretrain,
  resolveModel,
  runSweep,
  writeJson,
  writeReport,
  type ModelSource,
  type PretrainSettings,
  type SweepConfig,
} from '@w2s/pipeline';
import writeFileAtomic from 'write-file-atomic';
import { ProgressDisplay } from '../progress.js';
import { addDeviceOptions, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';
import { integerOption } from '../options.js';
import { cacheDir } from '../cache.js';

/** The family sizes the demo pretrains, and its weak → strong pairs. */
const SIZES = ['nano', 'micro', 'mini'] as const;
const PAIRS = [
  { weak: 'nano', strong: 'micro' },
  { weak: 'nano', strong: 'mini' },
  { weak: 'micro', strong: 'mini' },
];

/** Pretraining of every size: the same 3 M tokens (about 4.6 passes over the corpus), so that size alone makes the difference. */
const PRETRAIN: Omit<PretrainSettings, 'seed'> = { ...DEFAULT_PRETRAIN_SETTINGS, tokens: 3_000_000, seqLen: 128, batchSize: 16, lr: 2e-3, checkpointEvery: 200 };

function demoSweep(seeds: number[]): SweepConfig {
  return {
    datasets: ['synthetic_world'],
    pairs: PAIRS,
    losses: ['xent', 'logconf'],
    seeds,
    nTrain: null,
    nTest: 200,
    maxTokens: 64,
    lengthPolicy: 'truncate',
    balance: false,
    heldOutFrac: 0,
    bootstrap: [],
    strongIterations: 0,
    // Linear probes (the paper's other setting): with 240 training examples per split, full
    // finetuning of these tiny models forgets more than it elicits; a probe on the pretrained
    // features reads what pretraining taught.
    training: { ...DEFAULT_TRAIN_SETTINGS, epochs: 10, batchSize: 32, minibatchSize: 32, lr: 1e-2, linearProbe: true },
    lossOptions: DEFAULT_LOSS_OPTIONS,
  };
}

interface DemoFlags extends DeviceFlags {
  out: string;
  seeds: number;
  threads?: number;
}

export async function runDemo(flags: DemoFlags): Promise<void> {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  applyThreads(flags.threads);
  useDevice(flags);
  const demo = join(cacheDir(), 'demo');
  const say = (line: string) => process.stderr.write(`[${elapsed()}] ${line}\n`);

  const worldDir = join(demo, `world-${configHash(DEMO_WORLD)}`);
  const corpus = join(worldDir, 'corpus.txt');
  if (!existsSync(corpus)) {
    const world = generateWorld(DEMO_WORLD);
    await writeJson(join(worldDir, 'world.json'), world);
    await writeFileAtomic(corpus, worldCorpus(world));
    say(`generated the world: ${world.people.length} people with ${TRAITS.length} traits each; corpus in ${corpus}`);
  } else say(`reusing the world in ${worldDir}`);

  const models = new Map<string, ModelSource>();
  for (const size of SIZES) {
    const settings = { ...PRETRAIN, seed: 0 };
    const dir = join(demo, 'pretrained', `${size}-${configHash(canonicalJson({ world: DEMO_WORLD, size, config: FAMILY[size], settings }))}`);
    if (existsSync(join(dir, 'pretrain.json'))) say(`reusing pretrained ${size} (${dir})`);
    else {
      say(`pretraining ${size} on ${settings.tokens.toLocaleString('en')} tokens of the corpus`);
      let last = 0;
      const result = await pretrain({
        corpus,
        config: FAMILY[size],
        tokenizerSpec: FAMILY_TOKENIZER,
        modelName: size,
        settings,
        out: dir,
        onResume: (step) => say(`  resuming ${size} from step ${step}`),
        onStep: ({ step, totalSteps, loss, tokensPerSecond }) => {
          if (Date.now() - last > 10_000) {
            last = Date.now();
            say(`  ${size}: step ${step}/${totalSteps}, loss ${loss.toFixed(3)}, ${Math.round(tokensPerSecond)} tokens/s`);
          }
        },
      });
      say(`  ${size}: final loss ${result.finalLoss.toFixed(3)} nats per byte, ${Math.round(result.tokensPerSecond)} tokens/s`);
    }
    models.set(size, { ...(await resolveModel(dir)), spec: size });
  }

  say('weak-to-strong runs (each cached once done)');
  const display = new ProgressDisplay();
  let outcome;
  try {
    outcome = await runSweep(demoSweep(Array.from({ length: flags.seeds }, (_, i) => i)), {
      store: new ResultsStore(join(demo, 'results')),
      workers: 1,
      models,
      progress: display,
    });
  } finally {
    display.stop();
  }
  if (outcome.failed.length > 0) throw new Error(`runs failed: ${outcome.failed.map((f) => `${f.name}: ${f.message}`).join('; ')}`);
  const out = resolve(flags.out);
  for (const { key, summary } of outcome.summaries) await writeJson(join(out, 'experiments', `${key}.summary.json`), summary);
  const report = await writeReport(out, join(out, 'report'));
  process.stdout.write(`${report.terminal}\n`);
  process.stdout.write(
    `Weak models trained on ground truth label new data; strong models trained on those labels (transfer) are compared with the same strong\n` +
      `models trained on ground truth (ceiling). PGR = (transfer − weak) / (ceiling − weak), medians over ${flags.seeds} seeds.\n` +
      `${outcome.computed.length} runs trained, ${outcome.reused.length} reused, in ${elapsed()}.\n` +
      `Report: ${report.markdownPath}\n`,
  );
}

export function demoCommand(): Command {
  const command = new Command('demo')
    .description('weak-to-strong generalization end to end on a generated world: pretraining, weak, ceiling and transfer runs, PGR, report')
    .option('--out <dir>', 'where to write the summaries and the report', 'w2s-demo')
    .option('--seeds <n>', 'seeds per weak → strong pair', integerOption(1, 20), 3)
    .option('--threads <n>', 'CPU threads (default: all cores)', integerOption(1, 4096));
  return addDeviceOptions(command).action(async (flags: DemoFlags) => runDemo(flags));
}
