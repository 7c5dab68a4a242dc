// Measures a `w2s demo` design on several world seeds and checks it against the demo's bar
// (issue 15): on every seed, each weak model's median test accuracy is at least 0.60, each
// ceiling's median gap over its weak model at least 0.10, and each pair's median PGR above 0 with
// every loss and at least 0.20 with xent. Used to design the demo (README: `w2s demo`); never by
// the tests.
//
//   node packages/cli/dist/tune-demo.mjs [--design overrides.json] [--seeds 0,1,2] [--runs 3]
//
// (bundled first: `node packages/cli/scripts/bundle.mjs --tune`). overrides.json is merged over
// DEMO_DESIGN one level deep ({"world": {...}, "pretrain": {...}, "training": {...}, "sizes": ...}).
// The demo's cache ($W2S_CACHE_DIR) is shared, so designs that pretrain alike reuse the models.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseArgs } from 'node:util';
import { median, pgr } from '@w2s/pipeline';
import { DEMO_DESIGN, runDemo, type DemoDesign, type DemoFlags } from '../src/commands/demo.js';

const { values } = parseArgs({ options: { design: { type: 'string' }, seeds: { type: 'string', default: '0,1,2' }, runs: { type: 'string', default: '3' } } });
const overrides = values.design ? (JSON.parse(readFileSync(values.design, 'utf8')) as Partial<DemoDesign>) : {};
const design: DemoDesign = { ...DEMO_DESIGN };
for (const [key, value] of Object.entries(overrides)) {
  const base = (DEMO_DESIGN as unknown as Record<string, unknown>)[key];
  (design as unknown as Record<string, unknown>)[key] = base && typeof base === 'object' && !Array.isArray(base) && key !== 'sizes' ? { ...base, ...(value as object) } : value;
}

let allPass = true;
for (const seed of values.seeds!.split(',').map(Number)) {
  const flags: DemoFlags = { out: join(tmpdir(), `w2s-tune-${process.pid}-${seed}`), seed, seeds: Number(values.runs), device: 'cpu', precision: 'float32' };
  const outcome = await runDemo(flags, design);
  const lines: string[] = [];
  for (const { weak, strong } of design.pairs) {
    const runs = outcome.summaries.map((s) => s.summary).filter((s) => s.weak.model === weak && s.ceiling.model === strong);
    const w = median(runs.map((s) => s.weak.accuracy));
    const c = median(runs.map((s) => s.ceiling.accuracy));
    const gap = median(runs.map((s) => s.ceiling.accuracy - s.weak.accuracy));
    const pgrs = Object.fromEntries(
      ['xent', 'logconf'].map((loss) => {
        // A seed whose ceiling is not above its weak model has no PGR: it counts as −∞ (below the bar).
        const per = runs.map((s) => pgr(s.weak.accuracy, s.ceiling.accuracy, s.transfer.find((x) => x.loss === loss)!.accuracy) ?? -Infinity);
        const tr = median(runs.map((s) => s.transfer.find((x) => x.loss === loss)!.accuracy));
        return [loss, { pgr: median(per), transfer: tr }];
      }),
    );
    const pass = w >= 0.6 && gap >= 0.1 && pgrs.xent.pgr >= 0.2 && pgrs.logconf.pgr > 0;
    allPass &&= pass;
    lines.push(
      `seed ${seed} ${weak}->${strong}: weak ${w.toFixed(3)} ceiling ${c.toFixed(3)} gap ${gap.toFixed(3)} ` +
        `xent ${pgrs.xent.transfer.toFixed(3)} (PGR ${pgrs.xent.pgr.toFixed(2)}) logconf ${pgrs.logconf.transfer.toFixed(3)} (PGR ${pgrs.logconf.pgr.toFixed(2)}) ` +
        `n_test ${runs[0]?.counts.test} ${pass ? 'PASS' : 'FAIL'}`,
    );
  }
  lines.push(`seed ${seed}: pretraining ${outcome.pretrainSeconds.toFixed(0)} s, runs ${outcome.runSeconds.toFixed(0)} s`);
  process.stderr.write(lines.join('\n') + '\n');
  process.stdout.write(lines.join('\n') + '\n');
}
process.stdout.write(allPass ? 'ALL PASS\n' : 'SOME FAIL\n');
