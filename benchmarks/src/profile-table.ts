// bench:train --profile: where the time of a training step goes, from the engine's profiler
// (NativeModel.setProfiling / profile; native/src/engine/profiling_device.h), per thread count.
// The profiled steps are separate from the timed ones, which stay unprofiled.
import Table from 'cli-table3';
import type { EngineProfile, Minibatch, NativeModel, OptimizerOptions } from '@w2s/model';
import type { Precision } from './cpu-peak.js';

/** One (category, phase) line of a profile, per step. */
export interface ProfileLine {
  category: string;
  phase: string;
  msPerStep: number;
  /** Of the profiled steps' wall time. */
  fractionOfStep: number;
  callsPerStep: number;
}

/** The JSON row of a profile (bench:train --json). */
export interface ProfileRow {
  impl: 'profile';
  threads: number;
  /** The matrix products' arithmetic of the profiled model. */
  precision: Precision;
  /** Profiled steps (after the timed ones, on the same model). */
  steps: number;
  /** Wall time of a profiled step: the profiler's own cost included (two clock reads per device call). */
  wallMsPerStep: number;
  lines: ProfileLine[];
  pool: {
    threads: number;
    regionsPerStep: number;
    /** The parallel regions' wall time, of the step's. */
    regionFractionOfStep: number;
    /** Thread-time idle inside the regions (waiting at a region's end, waking late), of the regions' thread-time. */
    idleFractionInRegions: number;
    /** Thread-time the pool spent idle, of the step's wall time × threads (outside regions the pool is idle: serial code). */
    idleFractionOfStep: number;
    busySeconds: number;
    regionSeconds: number;
    regionThreadSeconds: number;
    wallSeconds: number;
  };
}

/** Runs `steps` profiled training steps on `model` (after its timed ones) and summarises them. */
export async function profileSteps(model: NativeModel, data: Minibatch[], optimizer: OptimizerOptions, steps: number, threads: number, precision: Precision): Promise<ProfileRow> {
  model.setProfiling(true);
  for (let i = 0; i < steps; i++) await model.trainStep(data, optimizer);
  const profile = model.profile();
  model.setProfiling(false);
  return profileRow(profile, steps, threads, precision);
}

export function profileRow(p: EngineProfile, steps: number, threads: number, precision: Precision): ProfileRow {
  const wall = p.wallSeconds;
  const lines = p.entries
    .filter((e) => e.phase !== 'outside')
    .map((e) => ({ category: e.category, phase: e.phase, msPerStep: (1000 * e.seconds) / steps, fractionOfStep: e.seconds / wall, callsPerStep: e.calls / steps }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  const pool = p.pool;
  return {
    impl: 'profile',
    threads,
    precision,
    steps,
    wallMsPerStep: (1000 * wall) / steps,
    lines,
    pool: {
      threads: pool.threads,
      regionsPerStep: pool.regions / steps,
      regionFractionOfStep: pool.regionSeconds / wall,
      idleFractionInRegions: pool.regionThreadSeconds > 0 ? 1 - pool.busySeconds / pool.regionThreadSeconds : 0,
      idleFractionOfStep: 1 - pool.busySeconds / (wall * pool.threads),
      busySeconds: pool.busySeconds,
      regionSeconds: pool.regionSeconds,
      regionThreadSeconds: pool.regionThreadSeconds,
      wallSeconds: wall,
    },
  };
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Prints a profile: one line per (category, phase), largest first, then the pool's idle time. */
export function printProfile(row: ProfileRow): void {
  console.log(`\nprofile of the ${row.precision} products on ${row.threads} thread(s): ${row.steps} profiled step(s) of ${row.wallMsPerStep.toFixed(1)} ms (wall, separate from the timed steps)`);
  const compact = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };
  const table = new Table({ chars: compact, style: { head: [], border: [] }, head: ['category', 'phase', 'ms/step', '% of step', 'calls/step'], colAligns: ['left', 'left', 'right', 'right', 'right'] });
  for (const l of row.lines) table.push([l.category, l.phase, l.msPerStep.toFixed(2), pct(l.fractionOfStep), Number(l.callsPerStep.toFixed(2))]);
  console.log(table.toString());
  const byPhase = new Map<string, number>();
  for (const l of row.lines) byPhase.set(l.phase, (byPhase.get(l.phase) ?? 0) + l.fractionOfStep);
  console.log(`  by phase ('step': other, the host's work between device calls): ${[...byPhase].map(([phase, f]) => `${phase} ${pct(f)}`).join(', ')}`);
  const matmul = row.lines.filter((l) => l.category.startsWith('matmul')).reduce((s, l) => s + l.fractionOfStep, 0);
  const pool = row.pool;
  console.log(
    `  thread pool (${pool.threads} threads): ${pool.regionsPerStep.toFixed(0)} parallel regions per step, ${pct(pool.regionFractionOfStep)} of the step's wall time; ` +
      `idle ${pct(pool.idleFractionInRegions)} of the regions' thread-time (waiting at region ends); ` +
      `idle ${pct(pool.idleFractionOfStep)} of the step's thread-time overall (outside its regions: serial code${pool.threads > 1 ? `; the matrix products, ${pct(matmul)} of the step, run inside them` : `, the matrix products (${pct(matmul)} of the step) included: on 1 thread they need no region`})`,
  );
}
