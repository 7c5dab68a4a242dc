// Plain Node (issue 17 item 5): the packages' public APIs load and compute in bare `node`, with no
// bundler, no tsx and no loader. Two child processes: plain-node/smoke.mjs, which computes with
// @w2s/kernels, @w2s/model and @w2s/pipeline, checked here against independent computations; and
// the README's @w2s/model example, run as written.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from '../support/data.js';

const here = join(repoRoot, 'tests', 'plain-node');
const readmeExample = join(here, 'readme-example.mjs');
afterAll(() => rmSync(readmeExample, { force: true }));

/**
 * `node file` in its folder, as a user runs it: with no NODE_OPTIONS (so no loader the test runner
 * may use) and no FORCE_COLOR (nx sets it for its tasks, and with it console.log colours a number
 * even into a pipe).
 */
function node(file: string) {
  const { NODE_OPTIONS: _options, FORCE_COLOR: _color, ...env } = process.env;
  const r = spawnSync(process.execPath, [file], { cwd: here, encoding: 'utf8', env, timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** max |a − b| / max |b|. */
function relativeError(a: number[], b: number[]): number {
  expect(a.length).toBe(b.length);
  let num = 0;
  let den = 0;
  b.forEach((v, i) => {
    num = Math.max(num, Math.abs(a[i] - v));
    den = Math.max(den, Math.abs(v));
  });
  return num / den;
}

describe('plain Node', () => {
  it('imports @w2s/kernels, @w2s/model and @w2s/pipeline and computes with each (and imports @w2s/data and @w2s/queue)', () => {
    const r = JSON.parse(node(join(here, 'smoke.mjs'))) as Record<string, number[]> & { kernelLoss: number; datasets: string[]; queueExports: number };
    // Soft cross-entropy of logits [0, 0] and [2, 0] against classes 0 and 1: mean of ln 2 and ln(1 + e²).
    expect(r.kernelLoss).toBeCloseTo((Math.log(2) + Math.log(1 + Math.exp(2))) / 2, 6);
    // d/dx Σx² = 2x: tfjs-core's gradients are registered.
    expect(r.grad).toEqual([2, 4, 6]);
    // The engine's logits and the tfjs twin's.
    expect(r.nativeLogits.length).toBeGreaterThan(0);
    expect(relativeError(r.nativeLogits, r.twinLogits)).toBeLessThan(1e-4);
    // Two training steps: the built-in xent and the same loss in tfjs (autodiff) agree.
    expect(r.builtinLosses).toHaveLength(2);
    r.builtinLosses.forEach((loss, i) => expect(r.tfjsLosses[i]).toBeCloseTo(loss, 5));
    // The README's datasets are registered; the queue's API loaded.
    expect(r.datasets).toEqual(expect.arrayContaining(['sciq', 'sst2']));
    expect(r.queueExports).toBeGreaterThan(0);
  });

  it("runs the README's @w2s/model example as written", () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## The models (`@w2s/model`)'));
    const code = /```js\n([\s\S]*?)```/.exec(section);
    expect(code, "a ```js block in the README's models section").not.toBeNull();
    writeFileSync(readmeExample, code![1]);
    const loss = Number(node(readmeExample));
    // The classifier head starts at zero: both classes at probability 1/2.
    expect(loss).toBeCloseTo(Math.log(2), 5);
  });
});
