// The flags of `w2s run`, `w2s pretrain` and `w2s report` that no other test passes, each shown to
// change what it should, as a user runs the CLI (the bundled CLI in a child process), against
// values derived here from the flags' documented meaning: the loss parameters the runs log at each
// step (logconf's α schedule, product's exponents), equivalences that must hold (α = 0 is xent,
// product with β = 0 is xent, clipping above every gradient norm is no clipping), the learning
// rate logged at each step, the examples the data flags keep, the checkpoints pretraining writes,
// and where the report goes; and `w2s pretrain` resuming after a kill. Tiny models, one epoch, on
// generated CSV files (no downloaded data).
// What a flag does to the weights themselves (weight decay, linear probe) is shown on the trained
// model in ../../pipeline/test/train.test.ts; here, that the flag reaches the runs' training.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bin, w2s, writeVowelCsv } from './fixtures.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-flags-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const csv = join(scratch, 'vowels.csv');
const balancedCsv = join(scratch, 'vowels-balanced.csv');
// Finished weak and ceiling runs are shared by every run below that trains them alike.
const results = join(scratch, 'results');
let outs = 0;

beforeAll(() => {
  writeVowelCsv(csv, 240, 7);
  writeVowelCsv(balancedCsv, 240, 8, { balanced: true });
});

const small = ['--epochs', '1', '--batch-size', '16', '--minibatch-size', '16', '--lr', '1e-3', '--threads', '1'];

/** `w2s run` on the balanced CSV, nano → micro; the summary. */
function run(loss: string, ...flags: string[]) {
  const out = join(scratch, `out-${outs++}`);
  const r = w2s('run', '--dataset', balancedCsv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro',
    '--loss', loss, '--n-test', '60', '--max-tokens', '24', '--out', out, '--results', results, '--json', ...small, ...flags);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const runFile = (run: string, file: string) => readFileSync(join(results, run, file), 'utf8');
const configOf = (run: string) => JSON.parse(runFile(run, 'config.json'));
const predictionsOf = (run: string): number[] => JSON.parse(runFile(run, 'predictions.json')).probs;
/** The run's logged optimizer steps. */
function stepsOf(run: string): { step: number; loss: number; gradNorm: number; lr: number; alpha?: number; beta?: number }[] {
  return runFile(run, 'log.jsonl').trim().split('\n').map((line) => JSON.parse(line)).filter((e) => e.event === 'step');
}
const maxDifference = (a: number[], b: number[]) => {
  expect(a).toHaveLength(b.length);
  return Math.max(...a.map((v, i) => Math.abs(v - b[i])));
};
const transferOf = (summary: any, loss: string) => summary.transfer.find((t: any) => t.loss === loss).run as string;

describe('loss flags', () => {
  it('--alpha-max, --warmup-frac, --logconf-schedule: the α each logconf step logs is the documented schedule of the flags', () => {
    // linear: α = alphaMax·min(1, f / warmupFrac); jump: alphaMax·f while f <= warmupFrac, then
    // alphaMax; warmupFrac 0: alphaMax throughout (f = step / steps).
    const expected = (alphaMax: number, warmupFrac: number, schedule: string, step: number, steps: number) => {
      const f = step / steps;
      if (warmupFrac <= 0) return alphaMax;
      if (schedule === 'jump') return f > warmupFrac ? alphaMax : alphaMax * f;
      return alphaMax * Math.min(1, f / warmupFrac);
    };
    const cases: [number, number, string][] = [
      [0.5, 0.2, 'linear'], // the defaults, passed by no flag
      [0.3, 0.5, 'linear'],
      [0.3, 0.5, 'jump'],
      [0.8, 0, 'linear'],
    ];
    const seen: string[] = [];
    for (const [alphaMax, warmupFrac, schedule] of cases) {
      const flags = seen.length === 0 ? [] : ['--alpha-max', String(alphaMax), '--warmup-frac', String(warmupFrac), '--logconf-schedule', schedule];
      const transfer = transferOf(run('logconf', ...flags), 'logconf');
      expect(configOf(transfer).loss).toEqual({ name: 'logconf', options: { alphaMax, warmupFrac, schedule } });
      const steps = stepsOf(transfer);
      expect(steps.length).toBeGreaterThan(4);
      const alphas = steps.map((s) => s.alpha);
      steps.forEach((s, i) => expect(s.alpha, `${alphaMax}/${warmupFrac}/${schedule} step ${i}`).toBeCloseTo(expected(alphaMax, warmupFrac, schedule, i, steps.length), 12));
      seen.push(JSON.stringify(alphas));
    }
    expect(new Set(seen).size, 'each setting gives another schedule').toBe(cases.length);
  }, 300_000);

  it('--alpha-max 0: logconf is xent on the weak labels (the same trained predictions); the default α is not', () => {
    const plain = run('xent,logconf');
    const off = run('xent,logconf', '--alpha-max', '0');
    expect(transferOf(off, 'xent')).toBe(transferOf(plain, 'xent')); // the flag is logconf's alone
    expect(stepsOf(transferOf(off, 'logconf')).every((s) => s.alpha === 0)).toBe(true);
    const xent = predictionsOf(transferOf(off, 'xent'));
    expect(maxDifference(predictionsOf(transferOf(off, 'logconf')), xent)).toBeLessThanOrEqual(1e-5);
    expect(maxDifference(predictionsOf(transferOf(plain, 'logconf')), xent)).toBeGreaterThan(1e-3);
  }, 300_000);

  it('--product-alpha, --product-beta: each product step logs them; alpha 1, beta 0 is xent (target ∝ weak labels), others are not', () => {
    const asXent = run('xent,product', '--product-alpha', '1', '--product-beta', '0');
    const other = run('xent,product', '--product-alpha', '2', '--product-beta', '0.5');
    for (const [summary, alpha, beta] of [[asXent, 1, 0], [other, 2, 0.5]] as const) {
      const transfer = transferOf(summary, 'product');
      expect(configOf(transfer).loss).toEqual({ name: 'product', options: { alpha, beta } });
      expect(stepsOf(transfer).every((s) => s.alpha === alpha && s.beta === beta), `${alpha}, ${beta}`).toBe(true);
    }
    const xent = predictionsOf(transferOf(asXent, 'xent'));
    expect(maxDifference(predictionsOf(transferOf(asXent, 'product')), xent)).toBeLessThanOrEqual(1e-5);
    expect(maxDifference(predictionsOf(transferOf(other, 'product')), xent)).toBeGreaterThan(1e-3);
  }, 300_000);
});

describe('training flags', () => {
  /** The three runs' stored training settings, and the summary. */
  function trained(...flags: string[]) {
    const summary = run('xent', ...flags);
    const runs = [summary.weak.run, summary.ceiling.run, summary.transfer[0].run] as string[];
    return { summary, runs, training: runs.map((r) => configOf(r).training) };
  }

  it('--weight-decay, --linear-probe, --dropout reach every run\'s training and change what it learns', () => {
    const base = trained();
    for (const [flags, setting] of [
      [['--weight-decay', '5'], { weightDecay: 5 }],
      [['--linear-probe'], { linearProbe: true }],
      [['--dropout', '0.3'], { dropout: 0.3 }],
    ] as const) {
      const changed = trained(...flags);
      changed.training.forEach((t, i) => expect(t, `${flags[0]}: ${changed.runs[i]}`).toEqual({ ...base.training[i], ...setting }));
      for (let i = 0; i < 3; i++) expect(maxDifference(predictionsOf(changed.runs[i]), predictionsOf(base.runs[i])), `${flags[0]}: ${changed.runs[i]}`).toBeGreaterThan(1e-4);
    }
  }, 300_000);

  it('--max-grad-norm: above every gradient norm it changes nothing; below them it changes every step after the first', () => {
    const unclipped = trained('--max-grad-norm', '0');
    const weak = stepsOf(unclipped.runs[0]);
    const norms = weak.map((s) => s.gradNorm); // logged before clipping
    const high = trained('--max-grad-norm', String(2 * Math.max(...norms)));
    const low = trained('--max-grad-norm', String(Math.min(...norms) / 4));
    expect(high.training[0].maxGradNorm).toBe(2 * Math.max(...norms));
    expect(stepsOf(high.runs[0])).toEqual(weak);
    expect(predictionsOf(high.runs[0])).toEqual(predictionsOf(unclipped.runs[0]));
    const clipped = stepsOf(low.runs[0]);
    // The same first step (the same model and batch; clipping acts on the update), then another path.
    expect(clipped[0].loss).toBe(weak[0].loss);
    expect(clipped[0].gradNorm).toBe(weak[0].gradNorm);
    expect(clipped[1].loss).not.toBe(weak[1].loss);
  }, 300_000);

  it('--lr-schedule: the learning rate logged at each step is the documented schedule', () => {
    // constant: lr; cosine: lr·½(1 + cos(π·step/steps)); warmup-cosine: lr·(step + 1)/w for the
    // w = ⌈0.1·steps⌉ first steps (the default warm-up fraction), then cosine over the rest.
    const lr = 1e-3;
    const schedules: Record<string, (step: number, steps: number) => number> = {
      constant: () => lr,
      cosine: (step, steps) => lr * 0.5 * (1 + Math.cos((Math.PI * step) / steps)),
      'warmup-cosine': (step, steps) => {
        const w = Math.ceil(0.1 * steps);
        return step < w ? (lr * (step + 1)) / w : lr * 0.5 * (1 + Math.cos((Math.PI * (step - w)) / Math.max(1, steps - w)));
      },
    };
    for (const [kind, schedule] of Object.entries(schedules)) {
      const { runs } = trained(...(kind === 'cosine' ? [] : ['--lr-schedule', kind])); // cosine is the default
      for (const r of runs) {
        const steps = stepsOf(r);
        steps.forEach((s, i) => expect(s.lr, `${kind} ${r} step ${i}`).toBeCloseTo(schedule(i, steps.length), 15));
      }
    }
  }, 300_000);
});

describe('data flags', () => {
  /** The CSV's rows as the file states them. */
  const rowsOf = (file: string) => readFileSync(file, 'utf8').trim().split('\n').slice(1).map((line) => { const [text, label] = line.split(','); return { text, label: Number(label) }; });

  it('--balance: the majority class is cut to the minority\'s size before splitting', () => {
    const rows = rowsOf(csv); // about 5 in 26 end in a vowel
    const positives = rows.filter((r) => r.label === 1).length, negatives = rows.length - positives;
    expect(positives).toBeLessThan(negatives);
    const args = ['run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro', '--loss', 'xent', '--n-test', '20', '--max-tokens', '24', '--json', ...small];
    const plain = JSON.parse(w2s(...args, '--out', join(scratch, 'unbalanced')).stdout);
    const balanced = w2s(...args, '--out', join(scratch, 'balanced'), '--balance');
    expect(balanced.status, balanced.stderr).toBe(0);
    const summary = JSON.parse(balanced.stdout);
    expect(plain.data.balancedAway).toBe(0);
    expect(summary.data.balancedAway).toBe(negatives - positives);
    const { train1, train2, test } = summary.counts;
    expect(train1 + train2 + test).toBe(2 * positives); // every kept example, both classes alike
    expect(plain.counts.train1 + plain.counts.train2 + plain.counts.test).toBe(rows.length);
    expect(JSON.parse(readFileSync(join(scratch, 'balanced', summary.weak.run, 'config.json'), 'utf8')).dataset.balance).toBe(true);
  }, 300_000);

  it('--length-policy drop: examples longer than --max-tokens are left out, where truncate keeps their last tokens', () => {
    // The byte tokenizer: BOS, then one token per byte.
    const maxTokens = 10;
    const rows = rowsOf(csv);
    const tooLong = new Set(rows.map((r, i) => (Buffer.byteLength(r.text) + 1 > maxTokens ? i : -1)).filter((i) => i >= 0));
    expect(tooLong.size).toBeGreaterThan(20);
    expect(tooLong.size).toBeLessThan(rows.length - 40);
    const args = ['run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro', '--loss', 'xent', '--n-test', '40', '--max-tokens', String(maxTokens), '--json', ...small];
    const outcome = (policy: string) => {
      const out = join(scratch, `length-${policy}`);
      const r = w2s(...args, '--out', out, '--length-policy', policy);
      expect(r.status, r.stderr).toBe(0);
      const summary = JSON.parse(r.stdout);
      const weak = summary.weak.run;
      const ids: string[] = JSON.parse(readFileSync(join(out, weak, 'predictions.json'), 'utf8')).ids;
      return { summary, ids, metrics: JSON.parse(readFileSync(join(out, weak, 'metrics.json'), 'utf8')), config: JSON.parse(readFileSync(join(out, weak, 'config.json'), 'utf8')) };
    };
    const truncate = outcome('truncate'), drop = outcome('drop');
    expect(drop.config.dataset.lengthPolicy).toBe('drop');
    // The id of a CSV row is the file's name and the row's line (the header is line 1).
    const row = (id: string) => Number(id.split('/')[1]) - 2;
    expect(truncate.ids).toHaveLength(40);
    expect(truncate.ids.some((id) => tooLong.has(row(id))), 'truncate keeps long test examples').toBe(true);
    expect(drop.ids.filter((id) => tooLong.has(row(id)))).toEqual([]);
    expect(drop.ids).toEqual(truncate.ids.filter((id) => !tooLong.has(row(id)))); // the same split, less the long ones
    expect(drop.metrics.examples.truncated).toBe(0);
    expect(truncate.metrics.examples.dropped).toBe(0);
    expect(drop.metrics.examples.dropped).toBe(truncate.metrics.examples.truncated);
    expect(drop.metrics.examples.test).toBe(drop.ids.length);
  }, 300_000);
});

describe('w2s pretrain flags', () => {
  const lines = Array.from({ length: 200 }, (_, i) => `story ${i}: the cat sat on the mat and the dog ran to the park.`);

  function pretrain(corpus: string, out: string, ...flags: string[]) {
    const r = w2s('pretrain', '--corpus', corpus, '--model', 'nano', '--tokens', String(10 * 4 * 16), '--seq-len', '16', '--batch-size', '4', '--lr', '3e-3', '--threads', '1', '--out', out, '--json', ...flags);
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(r.stdout);
  }

  it('--checkpoint-every n: a checkpoint (and a loss-curve point) at every n-th step and at the last', () => {
    const corpus = join(scratch, 'corpus.txt');
    writeFileSync(corpus, lines.join('\n') + '\n');
    for (const [every, steps] of [[3, [3, 6, 9, 10]], [4, [4, 8, 10]], [0, [10]]] as const) {
      const result = pretrain(corpus, join(scratch, `pretrain-every-${every}`), '--checkpoint-every', String(every));
      expect(result.steps).toBe(10);
      expect(result.lossCurve.map(([step]: [number, number]) => step), `--checkpoint-every ${every}`).toEqual(steps);
    }
  }, 300_000);

  it('--text-field: a JSONL corpus\'s text under another field trains the same model as under "text"', () => {
    const asText = join(scratch, 'corpus-text.jsonl'), asBody = join(scratch, 'corpus-body.jsonl');
    writeFileSync(asText, lines.map((text) => JSON.stringify({ text })).join('\n') + '\n');
    writeFileSync(asBody, lines.map((body) => JSON.stringify({ body, text: 'not this one' })).join('\n') + '\n');
    const a = pretrain(asText, join(scratch, 'pretrain-text'));
    const b = pretrain(asBody, join(scratch, 'pretrain-body'), '--text-field', 'body');
    const c = pretrain(asBody, join(scratch, 'pretrain-body-default'));
    expect(b.lossCurve).toEqual(a.lossCurve);
    expect(readFileSync(join(scratch, 'pretrain-body', 'model.safetensors'))).toEqual(readFileSync(join(scratch, 'pretrain-text', 'model.safetensors')));
    expect(c.lossCurve).not.toEqual(a.lossCurve); // without the flag: the "text" field
    const missing = w2s('pretrain', '--corpus', asText, '--model', 'nano', '--tokens', '64', '--seq-len', '16', '--batch-size', '4', '--out', join(scratch, 'pretrain-none'), '--text-field', 'body');
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toContain(`${asText}:1: no string field "body"`);
  }, 300_000);
});

describe('w2s pretrain resumes', () => {
  it('killed after a checkpoint, the same command resumes from it and ends with the weights of an uninterrupted run', async () => {
    const corpus = join(scratch, 'resume-corpus.txt');
    writeFileSync(corpus, Array.from({ length: 300 }, (_, i) => `line ${i}: a small cat and a big dog met by the river.`).join('\n') + '\n');
    // 600 steps, a checkpoint every 5: the run is killed at its first checkpoint, long before its end.
    const args = (out: string) => ['pretrain', '--corpus', corpus, '--model', 'nano', '--tokens', String(600 * 2 * 16), '--seq-len', '16', '--batch-size', '2', '--lr', '3e-3', '--checkpoint-every', '5', '--threads', '1', '--out', out, '--json'];
    const whole = w2s(...args(join(scratch, 'resume-whole')));
    expect(whole.status, whole.stderr).toBe(0);
    expect(JSON.parse(whole.stdout).resumedFrom).toBe(0);

    const out = join(scratch, 'resume-cut');
    const child = spawn(process.execPath, [bin, ...args(out)], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const checkpoints = () => (existsSync(join(out, 'resume')) ? readdirSync(join(out, 'resume')).filter((d) => /^step-\d+$/.test(d)) : []);
    const deadline = Date.now() + 120_000;
    while (checkpoints().length === 0) {
      if (Date.now() > deadline) throw new Error('no checkpoint written within 2 minutes');
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill('SIGKILL');
    await exited;
    // The latest checkpoint (killed between writing one and removing the one before, both are there).
    const step = Math.max(...checkpoints().map((d) => Number(d.slice('step-'.length))));
    const kept = `step-${step}`;
    expect(existsSync(join(out, 'pretrain.json')), `the run was killed before its end (at its checkpoint ${kept})`).toBe(false);
    expect(step).toBeLessThan(600);

    const resumed = w2s(...args(out));
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain(`resuming from the checkpoint at step ${step}`);
    const result = JSON.parse(resumed.stdout);
    expect(result.resumedFrom).toBe(step);
    expect(result.steps).toBe(600);
    expect(readFileSync(join(out, 'model.safetensors'))).toEqual(readFileSync(join(scratch, 'resume-whole', 'model.safetensors')));
  }, 300_000);
});

describe('w2s report --out', () => {
  it('writes report.md and the plots to the folder given, the same as the default DIR/report', () => {
    run('xent'); // a summary in out-N
    const out = join(scratch, `out-${outs - 1}`);
    const chosen = join(scratch, 'chosen-report');
    const byDefault = w2s('report', out);
    const moved = w2s('report', out, '--out', chosen);
    expect(byDefault.status, byDefault.stderr).toBe(0);
    expect(moved.status, moved.stderr).toBe(0);
    const files = readdirSync(join(out, 'report')).sort();
    expect(files).toContain('report.md');
    expect(readdirSync(chosen).sort()).toEqual(files);
    for (const f of files) expect(readFileSync(join(chosen, f), 'utf8'), f).toBe(readFileSync(join(out, 'report', f), 'utf8'));
  }, 300_000);
});
