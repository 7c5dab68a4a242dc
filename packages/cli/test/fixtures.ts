// Shared by the CLI tests: running the bundled CLI as a user does, the data folder, and a
// generated dataset that tiny models learn (so tests that train need no downloaded data).
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const cliRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');
export const bin = join(cliRoot, 'bin', 'w2s.mjs');
export const dataDir = process.env.W2S_DATA_DIR ?? resolve(cliRoot, '../../../shared/data');

/** Runs `w2s ...args` to completion in a child process. */
export function w2s(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 300_000, env: { ...process.env, W2S_DATA_DIR: dataDir } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A CSV of a task tiny models learn: does the text end in a vowel? (a seeded generator, no data needed) */
export function writeVowelCsv(file: string, n: number, seed: number): void {
  let state = seed >>> 0;
  const next = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const rows = ['text,label'];
  for (let i = 0; i < n; i++) {
    const text = Array.from({ length: 3 + Math.floor(next() * 8) }, () => letters[Math.floor(next() * 26)]).join('');
    rows.push(`w${i} ${text},${'aeiou'.includes(text[text.length - 1]) ? 1 : 0}`); // numbered: no duplicate texts
  }
  writeFileSync(file, rows.join('\n') + '\n');
}

