// The loss definitions: the built-ins are well formed and carry the paper's defaults; options are
// checked against their bounds; a loss module is loaded, named and keyed by its content; bad
// modules are refused with the reason.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUILTIN_LOSSES, builtinLoss, checkLossDefinition, findLoss, lossConfig, lossOptions, loadLossModule, resolveLosses } from '../src/losses.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-losses-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeModule(name: string, text: string): string {
  const file = join(scratch, name);
  writeFileSync(file, text);
  return file;
}

describe('built-in losses', () => {
  it('are well formed, with the paper\'s logconf settings (α_max 0.5, warm-up 20%, linear ramp)', () => {
    for (const d of BUILTIN_LOSSES) expect(() => checkLossDefinition(d, d.name)).not.toThrow();
    expect(BUILTIN_LOSSES.map((d) => d.name)).toEqual(['xent', 'logconf', 'product']);
    expect(lossOptions(builtinLoss('logconf')!)).toEqual({ alphaMax: 0.5, warmupFrac: 0.2, schedule: 'linear' });
  });

  it('run as the engine\'s kernels, logconf with α from its schedule', () => {
    const logconf = builtinLoss('logconf')!;
    if (logconf.run.kind !== 'native') throw new Error('logconf runs natively');
    const options = lossOptions(logconf, { alphaMax: 0.8, warmupFrac: 0.5 });
    expect(logconf.run.at(options, 0, 10)).toEqual({ loss: 'logconf', alpha: 0 });
    expect(logconf.run.at(options, 2, 10)).toEqual({ loss: 'logconf', alpha: 0.8 * (0.2 / 0.5) });
    expect(logconf.run.at(options, 9, 10)).toEqual({ loss: 'logconf', alpha: 0.8 });
  });

  it('check options against their bounds, naming the option', () => {
    const logconf = builtinLoss('logconf')!;
    expect(() => lossOptions(logconf, { alphaMax: 1.5 }, 'x')).toThrow('x.alphaMax must be a number in [0, 1], got 1.5');
    expect(() => lossOptions(logconf, { alphaMax: '0.5' }, 'x')).toThrow('x.alphaMax must be a number in [0, 1], got "0.5"');
    expect(() => lossOptions(logconf, { schedule: 'cosine' }, 'x')).toThrow('x.schedule must be one of "linear", "jump", got "cosine"');
    expect(() => lossOptions(builtinLoss('xent')!, { alpha: 1 }, 'x')).toThrow('x.alpha is not an option of xent (it has none)');
  });
});

describe('loss modules', () => {
  it('a default-exported function is a loss named after its file, keyed by its content hash', async () => {
    const file = writeModule('plain-xent.mjs', 'export default (z, y, { tf }) => tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1)));\n');
    const d = await loadLossModule(file);
    expect(d.name).toBe('plain-xent');
    expect(d.run.kind).toBe('tfjs');
    expect(d.module!.sha256).toMatch(/^[0-9a-f]{64}$/);
    const config = lossConfig({ definition: d, options: {} });
    expect(config).toEqual({ name: 'plain-xent', options: {}, sha256: d.module!.sha256 });
    expect(findLoss(config, [d])).toBe(d);
    // Edited: another hash, and a run of the old content is not served by the new module.
    writeFileSync(file, 'export default (z, y, { tf }) => tf.mul(2, tf.neg(tf.mean(tf.sum(tf.mul(y, tf.logSoftmax(z)), 1))));\n');
    const edited = await loadLossModule(file);
    expect(edited.module!.sha256).not.toBe(d.module!.sha256);
    expect(() => findLoss(config, [edited])).toThrow(/needs the loss module "plain-xent" with content sha256:/);
  });

  it('an object export declares its name, help and options, checked like the built-ins', async () => {
    const file = writeModule('obj.mjs', "export default { name: 'focal', help: 'focal loss', options: { gamma: { type: 'number', default: 2, min: 0, max: 5, help: 'g' } }, loss: (z) => z.sum() };\n");
    const [choice] = await resolveLosses([file], { focal: { gamma: 3 } });
    expect(choice.definition.name).toBe('focal');
    expect(choice.options).toEqual({ gamma: 3 });
    await expect(resolveLosses([file], { focal: { gamma: 9 } })).rejects.toThrow('lossOptions.focal.gamma must be a number in [0, 5], got 9');
  });

  it('refuses what is not a loss module, with the reason', async () => {
    await expect(loadLossModule(join(scratch, 'none.mjs'))).rejects.toThrow(/cannot read the loss module/);
    await expect(loadLossModule(writeModule('syntax.mjs', 'export default (;\n'))).rejects.toThrow(/cannot import the loss module/);
    await expect(loadLossModule(writeModule('number.mjs', 'export default 3;\n'))).rejects.toThrow(/must export default a loss function/);
    await expect(loadLossModule(writeModule('xent.mjs', 'export default () => 0;\n'))).rejects.toThrow(/the name "xent" is a built-in loss's/);
    await expect(loadLossModule(writeModule('bad-default.mjs', "export default { options: { k: { type: 'number', default: 7, min: 0, max: 1, help: '' } }, loss: () => 0 };\n"))).rejects.toThrow(
      /options.k: default must be a number in \[0, 1\], got 7/,
    );
    await expect(loadLossModule(writeModule('bad-name.mjs', "export default { name: 'a b', loss: () => 0 };\n"))).rejects.toThrow(/name must be letters, digits/);
    await expect(resolveLosses(['xent', 'hinge'])).rejects.toThrow(/unknown loss "hinge"/);
    await expect(resolveLosses(['xent', 'xent'])).rejects.toThrow(/two losses are named "xent"/);
  });
});
