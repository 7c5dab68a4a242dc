// `w2s demo`: weak-to-strong generalization on any machine, with no downloads. Generates the
// synthetic world of a seed and its corpus, pretrains the design's model sizes on it (cached, so
// reruns reuse them), runs weak ground-truth, ceiling and transfer training with xent and logconf
// for its weak → strong pairs over a few seeds (every run cached in the results store), prints the
// paper-style tables with PGR, and writes the report (Markdown and SVG plots).
//
// `--seed N` seeds everything the demo draws: the world (its people, facts and corpus), the
// pretraining (initial weights and data order) and, through the experiment seeds N·1000 + i,
// the splits and the probes' training. N is in every cache key (the world's folder, the
// pretrained models' folders, the dataset's name synthetic_world:N and the experiment seeds), so
// two seeds never share a cached result.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Command, Option } from 'commander';
import { DEFAULT_WORLD, TRAITS, generateWorld, getDataset, peopleRead, registerDataset, syntheticWorldDataset, worldCorpusJsonl, type WorldOptions } from '@w2s/data';
import { FAMILY, FAMILY_TOKENIZER, PRESETS, type ModelConfig } from '@w2s/model';
import {
  DEFAULT_LOSS_OPTIONS,
  DEFAULT_PRETRAIN_SETTINGS,
  DEFAULT_TRAIN_SETTINGS,
  ResultsStore,
  canonicalJson,
  configHash,
  precisionField,
  pretrain,
  processPrecision,
  resolveModel,
  runSweep,
  writeJson,
  writeReport,
  type ExperimentSummary,
  type ModelSource,
  type PretrainSettings,
  type SweepConfig,
  type TrainSettings,
} from '@w2s/pipeline';
import writeFileAtomic from 'write-file-atomic';
import { ProgressDisplay } from '../progress.js';
import { addDeviceOptions, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';
import { integerOption } from '../options.js';
import { cacheDir } from '../cache.js';

/** Everything the demo's result depends on, apart from the seed. */
export interface DemoDesign {
  /** The world (its seed is the demo's). */
  world: Omit<WorldOptions, 'seed'>;
  /**
   * The model sizes pretrained on the world's corpus, by name, smallest first, each with its
   * pretraining tokens and the fraction of the world's people whose facts its corpus states.
   */
  sizes: Record<string, { config: ModelConfig; tokens: number; peopleRead: number }>;
  pairs: { weak: string; strong: string }[];
  /** Pretraining of every size but its tokens (its seed is the demo's). */
  pretrain: Omit<PretrainSettings, 'seed' | 'tokens'>;
  /** Training examples (train1 + train2) and test examples of each experiment. */
  nTrain: number | null;
  nTest: number;
  training: TrainSettings;
}

/**
 * The design of `w2s demo`, chosen to meet the demo's bar (weak ≥ 0.60, gap ≥ 0.10, PGR > 0 with
 * every loss and ≥ 0.20 with xent) on every world seed; README.md, `w2s demo`, gives what it
 * measured on worlds 0-3 (used to choose it) and 4-6 (run once, after), the variations tried, and
 * scripts/tune-demo.ts measures a variation. The design:
 * - the world: 200 people (1200 examples, 400 of them test), whose fame is log-uniform between 3
 *   and 60 mentions; no two-hop facts (no size here learnt them); every trait's answer is read at
 *   the same two letters (TRAITS), so a probe reads one direction;
 * - micro as the weak model and mini as the strong one, both pretrained on 3 M tokens; micro's
 *   corpus states the facts of half the people (peopleRead 0.5), mini's everyone's. What micro
 *   knows is then bounded by what it read (at most about 0.75) rather than by when, in its
 *   pretraining, recall of the facts sets in, which moved its accuracy between 0.58 and 0.85
 *   from one world to the next when it read everyone;
 * - linear probes (the paper's other setting) on the pretrained features: they read what
 *   pretraining taught.
 */
export const DEMO_DESIGN: DemoDesign = {
  world: DEFAULT_WORLD,
  sizes: { micro: { config: FAMILY.micro, tokens: 3_000_000, peopleRead: 0.5 }, mini: { config: FAMILY.mini, tokens: 3_000_000, peopleRead: 1 } },
  pairs: [{ weak: 'micro', strong: 'mini' }],
  pretrain: { ...DEFAULT_PRETRAIN_SETTINGS, seqLen: 128, batchSize: 16, lr: 2e-3, checkpointEvery: 200 },
  nTrain: null,
  nTest: 400,
  // Batch and minibatch are equal (one optimizer step per minibatch).
  training: { ...DEFAULT_TRAIN_SETTINGS, epochs: 10, batchSize: 32, minibatchSize: 32, lr: 1e-2, linearProbe: true },
};

/** A seconds-long design for the tests (`--smoke`): a small world, the tiny test architectures, a few pretraining steps. */
export const SMOKE_DESIGN: DemoDesign = {
  world: { ...DEFAULT_WORLD, people: 60, minMentions: 2, maxMentions: 6 },
  sizes: {
    tiny: { config: { ...PRESETS['llama-tiny'], vocabSize: 259 }, tokens: 16 * 64 * 40, peopleRead: 0.5 },
    small: { config: { ...PRESETS['llama-tiny'], dModel: 64, nHeads: 4, nKvHeads: 4, dFf: 96, vocabSize: 259 }, tokens: 16 * 64 * 40, peopleRead: 1 },
  },
  pairs: [{ weak: 'tiny', strong: 'small' }],
  pretrain: { ...DEFAULT_PRETRAIN_SETTINGS, seqLen: 64, batchSize: 16, lr: 3e-3, checkpointEvery: 0 },
  nTrain: null,
  nTest: 120,
  training: { ...DEFAULT_TRAIN_SETTINGS, epochs: 2, batchSize: 32, minibatchSize: 32, lr: 1e-2, linearProbe: true },
};

/** The largest --seed: experiment seeds N·1000 + i stay below 2^31. */
const MAX_DEMO_SEED = 1_000_000;

/** The experiment seeds of demo seed N: N·1000 + i, disjoint across N. */
function experimentSeeds(seed: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => seed * 1000 + i);
}

/**
 * The registered name of the design's world of `seed`: synthetic_world:N for DEFAULT_WORLD's,
 * another world (a tuning experiment, the smoke test) is registered here under a name with its
 * options' hash.
 */
function worldDataset(world: WorldOptions): string {
  if (canonicalJson({ ...world, seed: 0 }) === canonicalJson({ ...DEFAULT_WORLD, seed: 0 })) return `synthetic_world:${world.seed}`;
  const name = `synthetic_world:${world.seed}~${configHash(world).slice(0, 8)}`;
  try {
    getDataset(name);
  } catch {
    registerDataset(syntheticWorldDataset(world, name));
  }
  return name;
}

function demoSweep(design: DemoDesign, dataset: string, seeds: number[]): SweepConfig {
  return {
    datasets: [dataset],
    pairs: design.pairs,
    losses: ['xent', 'logconf'],
    seeds,
    nTrain: design.nTrain,
    nTest: design.nTest,
    maxTokens: 64,
    lengthPolicy: 'truncate',
    balance: false,
    heldOutFrac: 0,
    bootstrap: [],
    strongIterations: 0,
    training: design.training,
    lossOptions: DEFAULT_LOSS_OPTIONS,
  };
}

export interface DemoFlags extends DeviceFlags {
  out: string;
  seed: number;
  seeds: number;
  smoke?: boolean;
  threads?: number;
}

export interface DemoOutcome {
  summaries: { key: string; summary: ExperimentSummary }[];
  /** Seconds spent pretraining (0 when every size was cached), and in the weak-to-strong runs. */
  pretrainSeconds: number;
  runSeconds: number;
}

export async function runDemo(flags: DemoFlags, design: DemoDesign = flags.smoke ? SMOKE_DESIGN : DEMO_DESIGN): Promise<DemoOutcome> {
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(0)} s`;
  applyThreads(flags.threads);
  useDevice(flags);
  const demo = join(cacheDir(), 'demo');
  const say = (line: string) => process.stderr.write(`[${elapsed()}] ${line}\n`);

  // The world's folder is keyed by its full corpus, and every pretrained model's by the corpus it
  // reads, so a change to the world's generator (a new release) never reuses models pretrained on
  // another text.
  const worldOptions: WorldOptions = { seed: flags.seed, ...design.world };
  const world = generateWorld(worldOptions);
  const worldDir = join(demo, `world-${configHash(worldCorpusJsonl(world))}`);
  if (!existsSync(join(worldDir, 'world.json'))) {
    await writeJson(join(worldDir, 'world.json'), world);
    say(`generated world ${flags.seed}: ${world.people.length} people with ${TRAITS.length} traits each, in ${worldDir}`);
  } else say(`reusing world ${flags.seed} in ${worldDir}`);

  const pretrainStarted = Date.now();
  const models = new Map<string, ModelSource>();
  for (const [size, { config, tokens, peopleRead: fraction }] of Object.entries(design.sizes)) {
    const read = peopleRead(world, fraction);
    const corpusText = worldCorpusJsonl(world, read);
    const corpus = join(worldDir, read.size === world.people.length ? 'corpus.jsonl' : `corpus-${read.size}-people.jsonl`);
    if (!existsSync(corpus)) await writeFileAtomic(corpus, corpusText);
    const settings: PretrainSettings = { ...design.pretrain, tokens, seed: flags.seed };
    // Keyed by the precision too, where not float32: a bf16 demo pretrains its own models.
    const dir = join(demo, 'pretrained', `${size}-${configHash({ corpus: configHash(corpusText), size, config, settings, ...precisionField(processPrecision()) })}`);
    if (existsSync(join(dir, 'pretrain.json'))) say(`reusing pretrained ${size} (${dir})`);
    else {
      say(`pretraining ${size} on ${settings.tokens.toLocaleString('en')} tokens of the corpus of ${read.size} of the ${world.people.length} people (${corpus})`);
      let last = 0;
      const result = await pretrain({
        corpus,
        config,
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
  const pretrainSeconds = (Date.now() - pretrainStarted) / 1000;

  say('weak-to-strong runs (each cached once done)');
  const runsStarted = Date.now();
  const display = new ProgressDisplay();
  let outcome;
  try {
    outcome = await runSweep(demoSweep(design, worldDataset(worldOptions), experimentSeeds(flags.seed, flags.seeds)), {
      store: new ResultsStore(join(demo, 'results')),
      workers: 1,
      models,
      progress: display,
    });
  } finally {
    display.stop();
  }
  const runSeconds = (Date.now() - runsStarted) / 1000;
  if (outcome.failed.length > 0) throw new Error(`runs failed: ${outcome.failed.map((f) => `${f.name}: ${f.message}`).join('; ')}`);
  const out = resolve(flags.out);
  for (const { key, summary } of outcome.summaries) await writeJson(join(out, 'experiments', `${key}.summary.json`), summary);
  const report = await writeReport(out, join(out, 'report'));
  const test = outcome.summaries[0]?.summary.counts.test ?? 0;
  process.stdout.write(`${report.terminal}\n`);
  process.stdout.write(
    `World ${flags.seed}. Weak models trained on ground truth label new data; strong models trained on those labels (transfer) are compared with the same strong\n` +
      `models trained on ground truth (ceiling). PGR = (transfer − weak) / (ceiling − weak) on ${test} test examples, medians over ${flags.seeds} seeds.\n` +
      `${outcome.computed.length} runs trained, ${outcome.reused.length} reused, in ${elapsed()} (pretraining ${pretrainSeconds.toFixed(0)} s, runs ${runSeconds.toFixed(0)} s).\n` +
      `Report: ${report.markdownPath}\n`,
  );
  return { summaries: outcome.summaries, pretrainSeconds, runSeconds };
}

export function demoCommand(): Command {
  const command = new Command('demo')
    .description('weak-to-strong generalization end to end on a generated world: pretraining, weak, ceiling and transfer runs, PGR, report')
    .option('--out <dir>', 'where to write the summaries and the report', 'w2s-demo')
    .option('--seed <n>', 'seed of everything the demo draws: the world, pretraining, splits and training', integerOption(0, MAX_DEMO_SEED), 0)
    .option('--seeds <n>', 'training seeds per weak → strong pair', integerOption(1, 20), 3)
    .option('--threads <n>', 'CPU threads (default: all cores)', integerOption(1, 4096))
    .addOption(new Option('--smoke', 'a seconds-long design for the tests (tiny world and models)').hideHelp());
  return addDeviceOptions(command).action(async (flags: DemoFlags) => {
    await runDemo(flags);
  });
}
