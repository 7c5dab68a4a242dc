// Shared by the CLI tests: running the bundled CLI as a user does, the data folder, and a
// generated dataset that tiny models learn (so tests that train need no downloaded data).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dataDir } from '../../../tests/support/data.js';

export const cliRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const bin = join(cliRoot, 'bin', 'w2s.mjs');
// The data folder (../shared/data or $W2S_DATA_DIR) and needsData: the helper every package's tests share.
export { dataDir, needsData } from '../../../tests/support/data.js';

/** Runs `w2s ...args` to completion in a child process. */
export function w2s(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, W2S_DATA_DIR: dataDir } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A CSV of a task tiny models learn: does the text end in a vowel? (a seeded generator, no data
 * needed). About 5 texts in 26 do; `balanced`: half of them, the last letter drawn from the vowels
 * or from the other letters with equal chance.
 */
export function writeVowelCsv(file: string, n: number, seed: number, opts: { balanced?: boolean } = {}): void {
  let state = seed >>> 0;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const rows = ['text,label'];
  for (let i = 0; i < n; i++) {
    let text = Array.from({ length: 3 + Math.floor(next() * 8) }, () => letters[Math.floor(next() * 26)]).join('');
    if (opts.balanced) {
      const ends = next() < 0.5 ? 'aeiou' : 'bcdfghjklmnpqrstvwxyz';
      text = text.slice(0, -1) + ends[Math.floor(next() * ends.length)];
    }
    rows.push(`w${i} ${text},${'aeiou'.includes(text[text.length - 1]) ? 1 : 0}`); // numbered: no duplicate texts
  }
  writeFileSync(file, rows.join('\n') + '\n');
}

/**
 * A small sweep over a vowel CSV: nano → micro, xent and logconf, seeds 0 and 1 (8 distinct runs:
 * per seed a weak, a ceiling and two transfer runs), one quick epoch; `fields` override the file's.
 */
export function vowelSweepConfig(csv: string, fields: Record<string, unknown> = {}): string {
  return JSON.stringify({
    datasets: [{ path: csv, textColumn: 'text', labelColumn: 'label' }],
    models: ['nano', 'micro'],
    losses: ['xent', 'logconf'],
    seeds: [0, 1],
    nTest: 60,
    maxTokens: 32,
    training: { epochs: 1, batchSize: 16, minibatchSize: 16, lr: 1e-3 },
    ...fields,
  });
}

/** The experiment summaries a sweep wrote under `out`, by file name. */
export function sweepSummaries(out: string): Record<string, unknown> {
  const dir = join(out, 'experiments');
  return Object.fromEntries(readdirSync(dir).sort().map((f) => [f, JSON.parse(readFileSync(join(dir, f), 'utf8'))]));
}

/**
 * A long-running `w2s ...` child with its output collected as it comes. detached: in a process
 * group of its own, which a test can signal as a terminal's Ctrl-C does.
 */
export function startW2s(where: { cwd: string; env: NodeJS.ProcessEnv; detached?: boolean }, ...args: string[]) {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...where });
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const exited = new Promise<{ status: number | null; signal: string | null }>((resolve) => child.on('exit', (status, signal) => resolve({ status, signal })));
  return { child, out, exited };
}

/** Waits until ok() holds, polling every 50 ms; throws, naming `what`, after `ms`. */
export async function until(what: string, ok: () => boolean, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Interrupts a child (SIGINT) and resolves once it has exited (at once if it already has). */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGINT');
  });
}
