// --device and --precision on every command that trains or evaluates: without a usable GPU,
// `--device cuda` fails at once with the reason (before any data or model is loaded), and tf32
// (a tensor-core format) without the cuda device is refused; the options are in every --help.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bin, w2s, writeVowelCsv } from './fixtures.js';

const native = createRequire(import.meta.url)('@w2s/native') as typeof import('@w2s/native');
const info = native.backendInfo();

// Arguments that would start each command's work (missing files are never reached: the device is checked first).
const commands: [string, string[]][] = [
  ['run', ['--dataset', 'sst2', '--weak', 'nano', '--strong', 'micro', '--loss', 'xent', '--out', '/nonexistent/w2s-out']],
  ['sweep', ['--config', '/nonexistent/sweep.json', '--out', '/nonexistent/w2s-out']],
  ['demo', ['--out', '/nonexistent/w2s-out']],
  ['pretrain', ['--corpus', '/nonexistent/corpus.txt', '--model', 'nano', '--tokens', '100', '--out', '/nonexistent/w2s-out']],
  ['generate', ['--checkpoint', '/nonexistent/model.bin', '--max-tokens', '1']],
  ['worker', ['--queue', 'redis://127.0.0.1:1']],
];

describe('--device and --precision', () => {
  it.each(commands)('w2s %s lists them in --help', (command) => {
    const r = w2s(command, '--help');
    expect(r.stdout).toMatch(/--device <device>/);
    expect(r.stdout).toMatch(/--precision <precision>/);
  });

  it.skipIf(info.cudaAvailable).each(commands)('w2s %s --device cuda fails at once with the reason', (command, args) => {
    const r = w2s(command, ...args, '--device', 'cuda');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`--device cuda: CUDA is unavailable here: ${info.cudaReason}`);
  });

  it.each(commands)('w2s %s --precision tf32 needs --device cuda', (command, args) => {
    const r = w2s(command, ...args, '--precision', 'tf32');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--precision tf32: precision tf32 needs the cuda device');
  });

  it('an unknown device is rejected with the choices', () => {
    const r = w2s('generate', '--checkpoint', 'x', '--max-tokens', '1', '--device', 'gpu');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Allowed choices are cpu, cuda/);
  });
});

// The success path of --device cuda, on the addon over the CPU emulation of CUDA
// (W2S_NATIVE_ADDON=emulated): the engine's CUDA device trains the run, and the run's results
// agree with the CPU engine's (the emulated cuBLAS is the CPU sgemm, so float32 differs only in
// summation order).
describe('--device cuda on the emulated addon', () => {
  it('w2s run --device cuda trains on the CUDA device and agrees with --device cpu', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'w2s-device-'));
    try {
      const csv = join(scratch, 'vowels.csv');
      writeVowelCsv(csv, 80, 3);
      const run = (device: string, env: Record<string, string>) => {
        const args = ['run', '--dataset', csv, '--text-column', 'text', '--label-column', 'label', '--weak', 'nano', '--strong', 'micro', '--loss', 'xent',
          '--n-test', '20', '--max-tokens', '16', '--epochs', '1', '--batch-size', '16', '--minibatch-size', '16', '--lr', '1e-3', '--threads', '1',
          '--out', join(scratch, device), '--json', '--device', device];
        const r = spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout) as { weak: { accuracy: number; auroc: number }; ceiling: { accuracy: number; auroc: number }; transfer: { accuracy: number; auroc: number }[] };
      };
      const cpu = run('cpu', {});
      const cuda = run('cuda', { W2S_NATIVE_ADDON: 'emulated' });
      for (const [a, b] of [[cpu.weak, cuda.weak], [cpu.ceiling, cuda.ceiling], [cpu.transfer[0], cuda.transfer[0]]]) {
        expect(b.accuracy).toBe(a.accuracy);
        expect(Math.abs(b.auroc - a.auroc)).toBeLessThanOrEqual(1e-3);
      }
      const predictions = (device: string, role: string) => {
        const dir = readdirSync(join(scratch, device, 'runs')).find((name) => name.includes(`-${role}-`) && !name.endsWith('.lock'))!;
        return JSON.parse(readFileSync(join(scratch, device, 'runs', dir, 'predictions.json'), 'utf8')).probs.flat() as number[];
      };
      for (const role of ['weak', 'ceiling', 'transfer']) {
        const [p, q] = [predictions('cpu', role), predictions('cuda', role)];
        expect(q).toHaveLength(p.length);
        expect(Math.max(...p.map((value, i) => Math.abs(value - q[i])))).toBeLessThan(1e-4);
      }
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }, 1_200_000);

  it('an unknown W2S_NATIVE_ADDON is refused, naming it', () => {
    const r = spawnSync(process.execPath, [bin, 'data', 'list'], { encoding: 'utf8', env: { ...process.env, W2S_NATIVE_ADDON: 'gpu' } });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('W2S_NATIVE_ADDON must be unset or "emulated"');
  });
});
