// --device and --precision on every command that trains or evaluates: without a usable GPU,
// `--device cuda` fails at once with the reason (before any data or model is loaded), and a
// tensor-core precision without the cuda device is refused; the options are in every --help.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { w2s } from './fixtures.js';

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

  it.each(commands)('w2s %s --precision bf16 needs --device cuda', (command, args) => {
    const r = w2s(command, ...args, '--precision', 'bf16');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('--precision bf16: precision bf16 needs the cuda device');
  });

  it('an unknown device is rejected with the choices', () => {
    const r = w2s('generate', '--checkpoint', 'x', '--max-tokens', '1', '--device', 'gpu');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Allowed choices are cpu, cuda/);
  });
});
