// `w2s run` and `w2s report` end to end, as a user runs them (the bundled CLI in a child process):
// on a slice of a real dataset from ../shared/data (skipped with a message where it is absent,
// failing there under W2S_REQUIRE_DATA=1),
// and on a local CSV file written here (always). Tiny models, one epoch: these check the
// pipeline's plumbing and its bookkeeping, not the science.
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDataset, loadTableFile } from '@w2s/data';
import { ResultsStore } from '@w2s/pipeline';
import { dataDir, needsData, w2s, writeVowelCsv } from './fixtures.js';

const sst2 = needsData('the end-to-end run on SST-2', 'sst2');

const scratch = mkdtempSync(join(tmpdir(), 'w2s-run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const smallRun = ['--epochs', '1', '--batch-size', '16', '--minibatch-size', '16', '--lr', '1e-3', '--threads', '1'];

/** The ground truth by example id, as the data package loads it. */
function labelsOf(examples: readonly { id: string; label: number }[]): Map<string, number> {
  return new Map(examples.map((e) => [e.id, e.label]));
}

/** p(label 1) on the test split, by example id, from a stored run's predictions.json. */
function predictionsOf(out: string, run: string): Map<string, number> {
  const { ids, probs } = JSON.parse(readFileSync(join(out, run, 'predictions.json'), 'utf8')) as { ids: string[]; probs: number[] };
  expect(probs).toHaveLength(ids.length);
  return new Map(ids.map((id, i) => [id, probs[i]]));
}

/**
 * What the stored predictions say of accuracy (predicted label 1 where p(label 1) >= 0.5) and AUROC
 * (Mann–Whitney: the chance that a positive outranks a negative, ties counting half; 0.5 with one
 * class absent). predictions.json rounds to 6 decimals, and the summary's scores come from the
 * unrounded probabilities, so the stored ones bound them: rounding keeps every strict order, so
 * only a stored 0.5 (the unrounded one may be just below) leaves a prediction open, and only pairs
 * tied after rounding leave a pair of the AUROC open.
 */
function scoreBounds(p: Map<string, number>, labels: Map<string, number>) {
  const pos: number[] = [], neg: number[] = [];
  let right = 0, fence = 0;
  for (const [id, prob] of p) {
    const label = labels.get(id);
    expect(label, `test example ${id} is in the dataset`).toBeDefined();
    if (prob === 0.5) fence++;
    else if ((prob > 0.5 ? 1 : 0) === label) right++;
    (label === 1 ? pos : neg).push(prob);
  }
  let wins = 0, ties = 0;
  for (const a of pos) for (const b of neg) a > b ? wins++ : a === b ? ties++ : 0;
  const pairs = pos.length * neg.length;
  return {
    accuracy: [right / p.size, (right + fence) / p.size],
    auroc: pairs ? [wins / pairs, (wins + ties) / pairs] : [0.5, 0.5],
    fence,
    positives: pos.length,
  };
}

function expectWithin(value: number, [lo, hi]: number[], what: string) {
  expect(value >= lo - 1e-12 && value <= hi + 1e-12, `${what}: ${value} should be in [${lo}, ${hi}]`).toBe(true);
}

/**
 * The summary against what the stored runs and the data say: every accuracy and AUROC recomputed
 * from the run's test predictions and the dataset's labels, the test counts, PGR from the
 * accuracies, and each transfer's agreement with its supervisor (the weak run, or for
 * strong-to-strong and bootstrap chains the run its config names) recomputed from both runs'
 * predictions. With a the supervisor's accuracy, R and W the agreement where it is right and where
 * it is wrong, binary labels force overall = a·R + (1 − a)·W and the student's accuracy =
 * a·R + (1 − a)·(1 − W).
 */
function checkSummary(summary: any, losses: string[], out: string, labels: Map<string, number>) {
  for (const key of ['dataset', 'seed', 'weak', 'ceiling', 'transfer', 'counts']) expect(summary).toHaveProperty(key);
  for (const model of [summary.weak, summary.ceiling]) {
    expect(model.accuracy).toBeGreaterThanOrEqual(0);
    expect(model.accuracy).toBeLessThanOrEqual(1);
  }
  expect(summary.transfer.map((t: any) => t.loss)).toEqual(losses);
  const store = new ResultsStore(out);
  for (const model of [summary.weak, summary.ceiling, ...summary.transfer]) {
    const p = predictionsOf(out, model.run);
    expect(p.size, model.run).toBe(summary.counts.test);
    const s = scoreBounds(p, labels);
    expectWithin(model.accuracy, s.accuracy, `${model.run} accuracy`);
    expectWithin(model.auroc, s.auroc, `${model.run} AUROC`);
    if (summary.counts.testPositives !== undefined) expect(summary.counts.testPositives).toBe(s.positives);
  }
  for (const t of summary.transfer) {
    const gap = summary.ceiling.accuracy - summary.weak.accuracy;
    if (gap > 0) expect(t.pgr).toBeCloseTo((t.accuracy - summary.weak.accuracy) / gap, 10);
    else expect(t.pgr).toBeNull();
    expect(t.agreement.overall).toBeGreaterThanOrEqual(0);

    const config = JSON.parse(readFileSync(join(out, t.run, 'config.json'), 'utf8'));
    expect(config.supervisor, `${t.run} has a supervisor`).toBeTruthy();
    const supervisorRun = `runs/${store.runName(config.supervisor)}`;
    if (t.loss === losses[0]) expect(supervisorRun).toBe(summary.weak.run);
    const student = predictionsOf(out, t.run), supervisor = predictionsOf(out, supervisorRun);
    // Agreement is of the stored (rounded) predictions, each predicting label 1 at p >= 0.5.
    let agree = 0, right = 0, rightAgree = 0, wrongAgree = 0;
    for (const [id, q] of supervisor) {
      const same = (student.get(id)! >= 0.5) === (q >= 0.5);
      if (same) agree++;
      if ((q >= 0.5 ? 1 : 0) === labels.get(id)) {
        right++;
        if (same) rightAgree++;
      } else if (same) wrongAgree++;
    }
    const n = supervisor.size, wrong = n - right;
    expect(t.agreement.overall, `${t.run} agreement`).toBeCloseTo(agree / n, 12);
    expect(t.agreement.supervisorRight).toEqual(right ? expect.closeTo(rightAgree / right, 12) : null);
    expect(t.agreement.supervisorWrong).toEqual(wrong ? expect.closeTo(wrongAgree / wrong, 12) : null);
    const a = right / n, R = t.agreement.supervisorRight ?? 0, W = t.agreement.supervisorWrong ?? 0;
    expect(t.agreement.overall).toBeCloseTo(a * R + (1 - a) * W, 12);
    // The student's accuracy from the agreement, open by the student's stored 0.5s (see scoreBounds).
    const open = scoreBounds(student, labels).fence / n;
    const implied = a * R + (1 - a) * (1 - W);
    expectWithin(t.accuracy, [implied - open, implied + open], `${t.run} accuracy from its agreement`);
  }
}

describe('w2s run', () => {
  sst2.it('runs weak, ceiling and transfers on a slice of SST-2, writes summary.json, and reuses every run when repeated', async () => {
    const out = join(scratch, 'sst2');
    const args = ['run', '--dataset', 'sst2', '--weak', 'nano', '--strong', 'micro', '--loss', 'xent,logconf', '--n-train', '200', '--n-test', '100', '--max-tokens', '64', '--out', out, ...smallRun];
    const first = w2s(...args);
    expect(first.status, first.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8'));
    expect(summary.dataset).toBe('sst2');
    const { testPositives, ...splitSizes } = summary.counts;
    expect(splitSizes).toEqual({ train1: 100, train2: 100, test: 100 });
    // The test split's positives, exactly checked against the split in the pipeline's runs.test.ts.
    expect(Number.isInteger(testPositives) && testPositives >= 0 && testPositives <= 100, String(testPositives)).toBe(true);
    checkSummary(summary, ['xent', 'logconf'], out, labelsOf((await loadDataset('sst2', { dataDir })).examples));
    expect(first.stdout).toMatch(/weak.*nano/);
    const runs = readdirSync(join(out, 'runs')).filter((f) => !f.endsWith('.lock'));
    expect(runs.sort().map((r) => r.replace(/-[0-9a-f]{16}$/, ''))).toEqual(['sst2-ceiling', 'sst2-transfer', 'sst2-transfer', 'sst2-weak']);
    for (const run of runs) for (const f of ['config.json', 'metrics.json', 'log.jsonl', 'predictions.json', 'labels.json']) expect(existsSync(join(out, 'runs', run, f)), `${run}/${f}`).toBe(true);
    const mtimes = runs.map((r) => statSync(join(out, 'runs', r, 'metrics.json')).mtimeMs);

    const again = w2s(...args, '--json');
    expect(again.status, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toEqual(summary);
    expect(runs.map((r) => statSync(join(out, 'runs', r, 'metrics.json')).mtimeMs)).toEqual(mtimes); // reloaded, not recomputed
    expect(again.stderr).toMatch(/reused/);
    expect(again.stderr).not.toMatch(/trained/);

    const report = w2s('report', out);
    expect(report.status, report.stderr).toBe(0);
    expect(report.stdout).toMatch(/PGR\) on accuracy/);
    expect(report.stdout).toMatch(/PGR\) on AUROC/);
    const files = readdirSync(join(out, 'report'));
    expect(files).toContain('report.md');
    expect(files.filter((f) => f.endsWith('.svg')).sort()).toEqual(['pgr-sst2.svg', 'transfer-sst2.svg']);
  }, 300_000);

  it('runs on a local CSV file, with early stopping, bootstrapping and a strong-to-strong iteration', async () => {
    const csv = join(scratch, 'vowels.csv');
    writeVowelCsv(csv, 400, 1);
    const out = join(scratch, 'csv');
    const r = w2s('run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro',
      '--loss', 'product', '--n-test', '80', '--max-tokens', '32', '--early-stopping', 'best', '--held-out-frac', '0.2', '--eval-every', '2',
      '--bootstrap', 'nano', '--strong-iterations', '1', '--out', out, '--json', ...smallRun);
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    expect(summary.dataset).toBe('vowels.csv');
    expect(summary.counts.test).toBe(80);
    expect(summary.counts.train1 + summary.counts.train2).toBe(320);
    checkSummary(summary, ['product', 'product s2s#1', 'product bootstrap nano→nano→micro'], out, labelsOf((await loadTableFile(csv, { textColumn: 'text', labelColumn: 'label' })).examples));
    const metrics = readdirSync(join(out, 'runs')).filter((f) => f.includes('-weak-')).map((f) => JSON.parse(readFileSync(join(out, 'runs', f, 'metrics.json'), 'utf8')));
    expect(metrics[0].examples.heldOut).toBe(Math.round(160 * 0.2));
    expect(metrics[0].evals.length).toBeGreaterThan(0);
  }, 300_000);

  it('on a task the models learn (balanced vowel endings, three epochs): weak, ceiling and transfer score far above chance', async () => {
    const csv = join(scratch, 'vowels-balanced.csv');
    writeVowelCsv(csv, 400, 4, { balanced: true });
    const out = join(scratch, 'learned');
    const r = w2s('run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro',
      '--loss', 'xent', '--n-test', '100', '--max-tokens', '32', '--out', out, '--json', ...smallRun, '--epochs', '3');
    expect(r.status, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout);
    checkSummary(summary, ['xent'], out, labelsOf((await loadTableFile(csv, { textColumn: 'text', labelColumn: 'label' })).examples));
    // Chance here is the majority class's share m of the test split (what a model that learned
    // nothing but the class balance scores); a model that learned the task is above it by more than
    // 4 binomial standard errors sqrt(m(1 − m)/n).
    const n = summary.counts.test, m = Math.max(summary.counts.testPositives, n - summary.counts.testPositives) / n;
    const chance = m + 4 * Math.sqrt((m * (1 - m)) / n);
    for (const [who, accuracy] of [['weak', summary.weak.accuracy], ['ceiling', summary.ceiling.accuracy], ['transfer', summary.transfer[0].accuracy]])
      expect(accuracy, `${who} accuracy against chance ${chance.toFixed(3)}`).toBeGreaterThan(chance);
  }, 300_000);

  it('runs a loss from a module file through the same path, keyed by the file\'s content: an edited file trains anew', async () => {
    const csv = join(scratch, 'vowels-module.csv');
    writeVowelCsv(csv, 160, 2);
    const module = join(scratch, 'focal.mjs');
    const focal = (gamma: number, scale = 1) =>
      `// focal loss on soft labels\nexport default {\n  name: 'focal',\n  help: 'focal cross-entropy',\n  options: { gamma: { type: 'number', default: ${gamma}, min: 0, max: 5, help: 'focusing exponent' } },\n` +
      `  loss(logits, targets, { tf, options }) {\n    const logp = tf.logSoftmax(logits);\n    const weight = tf.pow(tf.sub(1, tf.exp(logp)), options.gamma);\n` +
      `    return tf.mul(${-scale}, tf.mean(tf.sum(tf.mul(tf.mul(targets, weight), logp), 1)));\n  },\n};\n`;
    writeFileSync(module, focal(2));
    const out = join(scratch, 'module');
    const args = ['run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro', '--loss', `xent,${module}`, '--n-test', '40', '--max-tokens', '32', '--out', out, '--json', ...smallRun];
    const first = w2s(...args);
    expect(first.status, first.stderr).toBe(0);
    checkSummary(JSON.parse(first.stdout), ['xent', 'focal'], out, labelsOf((await loadTableFile(csv, { textColumn: 'text', labelColumn: 'label' })).examples));
    const transferConfigs = () =>
      readdirSync(join(out, 'runs')).filter((f) => f.includes('-transfer-') && !f.endsWith('.lock')).map((f) => JSON.parse(readFileSync(join(out, 'runs', f, 'config.json'), 'utf8')).loss);
    const focalRuns = () => transferConfigs().filter((l: any) => l.name === 'focal');
    expect(focalRuns()).toEqual([{ name: 'focal', options: { gamma: 2 }, sha256: createHash('sha256').update(readFileSync(module)).digest('hex') }]);
    const same = w2s(...args);
    expect(same.status, same.stderr).toBe(0);
    expect(focalRuns()).toHaveLength(1); // the same content: reused
    writeFileSync(module, focal(2, 2)); // the same options, another loss
    const edited = w2s(...args);
    expect(edited.status, edited.stderr).toBe(0);
    const runs = focalRuns();
    expect(runs).toHaveLength(2); // edited: trained anew, under a new identity
    expect(runs.map((l: any) => l.options)).toEqual([{ gamma: 2 }, { gamma: 2 }]);
    expect(new Set(runs.map((l: any) => l.sha256)).size).toBe(2);
    expect(transferConfigs().filter((l: any) => l.name === 'xent')).toHaveLength(1); // the built-in loss's run was reused
    writeFileSync(module, 'export default 42;\n');
    const bad = w2s(...args);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr).toMatch(/must export default a loss function/);
  }, 300_000);

  it('rejects bad options with a message that says what is accepted', () => {
    const base = ['run', '--dataset', 'sst2', '--weak', 'nano', '--strong', 'micro', '--out', join(scratch, 'bad')];
    let r = w2s(...base, '--loss', 'xent,hinge');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/expected a comma-separated list of xent, logconf, product or loss module files \(\.\/my-loss\.mjs\), got "xent,hinge"/);
    // The losses' flags take the bounds of the losses' definitions.
    r = w2s(...base, '--loss', 'logconf', '--alpha-max', '2');
    expect(r.stderr).toMatch(/--alpha-max <x>.*expected a number in \[0, 1\], got "2"/);
    r = w2s(...base, '--loss', 'logconf', '--logconf-schedule', 'step');
    expect(r.stderr).toMatch(/Allowed choices are linear, jump/);
    r = w2s(...base, '--loss', join(scratch, 'missing.mjs'));
    expect(r.stderr).toMatch(/cannot read the loss module .*missing\.mjs/);
    r = w2s(...base, '--loss', 'xent', '--epochs', '0');
    expect(r.stderr).toMatch(/--epochs.*expected an integer in \[1, 10000\], got "0"/);
    // The training settings' flags take the bounds of their declarations, which sweep files share.
    r = w2s(...base, '--loss', 'xent', '--dropout', '5');
    expect(r.stderr).toMatch(/--dropout <x>.*expected a number in \[0, 0\.99\], got "5"/);
    r = w2s(...base, '--loss', 'xent', '--seed', '2147483648');
    expect(r.stderr).toMatch(/--seed <n>.*expected an integer in \[0, 2147483647\], got "2147483648"/);
    r = w2s(...base, '--loss', 'xent', '--strong-iterations', '101');
    expect(r.stderr).toMatch(/--strong-iterations <n>.*expected an integer in \[0, 100\], got "101"/);
    r = w2s(...base, '--loss', 'xent', '--held-out-frac', '0.95');
    expect(r.stderr).toMatch(/--held-out-frac <x>.*expected a number in \[0, 0\.9\], got "0\.95"/);
    r = w2s(...base, '--loss', 'xent', '--early-stopping', 'best', '--held-out-frac', '0.2');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('w2s: --early-stopping "best" needs --eval-every > 0 (with evaluations only at the end, it would keep the last weights)');
    r = w2s(...base, '--loss', 'xent', '--early-stopping', 'best', '--eval-every', '5');
    expect(r.stderr).toContain('w2s: --early-stopping "best" needs --held-out-frac > 0 (the split it scores on)');
    r = w2s(...base, '--loss', 'xent', '--lr-schedule', 'step');
    expect(r.stderr).toMatch(/Allowed choices are constant, cosine, warmup-cosine/);
    r = w2s(...base, '--loss', 'xent', '--bogus');
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
    r = w2s('run', '--dataset', 'sst2', '--weak', 'huge', '--strong', 'micro', '--loss', 'xent', '--out', join(scratch, 'bad'));
    expect(r.stderr).toMatch(/model "huge" is neither a named size \(nano, micro, mini, small, base\) nor an existing checkpoint path/);
    r = w2s('run', '--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/--dataset <name\|file>/);
  });
});
