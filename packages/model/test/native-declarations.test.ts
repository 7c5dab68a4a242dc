// The records the TypeScript packages hand to the native engine are declared once, in the addon's
// type declarations (native/index.d.ts), which @w2s/model imports as types only (ModelConfig,
// Architecture, Batch, OptimizerOptions). Two other places must still agree with that declaration,
// and cannot be derived from it: the binding that reads the records from JS
// (native/src/napi/engine_binding.cpp) and the C++ structs the engine computes with
// (native/include/w2s/engine.h, layers.h). This test reads all three as text and fails, naming the
// field and the file, when a field is added to (or removed from) one of them and not the others.
// It also fails when @w2s/model's type declares fields again, beyond the TypeScript-only ones
// listed with their reasons (Minibatch, a narrower union than RawMinibatch, is compared field by
// field instead). The C++ names are derived from the declaration's names (camelCase to snake_case)
// except where listed below, each exception stating how the C++ struct lays the field out.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Batch } from '../src/batch.js';
import { PRESETS, withHead } from '../src/config.js';
import { NativeModel } from '../src/engine.js';
import { OPTIMIZER_DEFAULTS, type OptimizerOptions } from '../src/optimizer.js';
import { TwinAdamW } from '../src/tfjs/adamw.js';
import { validateBatch } from '../src/tfjs/twin.js';
import { bindingReads, cppFields, snakeCase, tsFields } from './declarations.js';

const DTS = 'native/index.d.ts';
const BINDING = 'native/src/napi/engine_binding.cpp';
const HEADERS = ['native/include/w2s/engine.h', 'native/include/w2s/layers.h'];

interface Declared {
  /** The declaration in native/index.d.ts: the reference. */
  dts: string;
  /**
   * @w2s/model's type: the files it (and the types it uses) are declared in, its name, the fields it
   * adds to the declaration, with the reason, and, where it states the declaration's fields again,
   * why (otherwise it may declare no fields but its `only`).
   */
  model: { files: string[]; name: string; only?: Record<string, string>; restates?: string };
  /** The binding functions that read it from JS, the message prefix of its paths, and parameters they cannot tell. */
  binding: { functions: string[]; root: string; known?: Record<string, string> };
  /** The C++ struct, the declared fields it lays out under other names (a key ending in '.' renames a prefix), and its own fields. */
  cpp: { name: string; renames?: Record<string, string>; only?: Record<string, string> };
}

const RECORDS: Record<string, Declared> = {
  ModelConfig: {
    dts: 'RawModelConfig',
    model: {
      files: ['packages/model/src/config.ts'],
      name: 'ModelConfig',
      only: {
        slidingWindow:
          'the engine is not told the window: NativeModel and the twin refuse longer sequences (slidingWindowProblem), and up to the window full causal attention is the windowed one',
      },
    },
    binding: { functions: ['parse_config', 'parse_architecture'], root: 'config' },
    cpp: {
      name: 'ModelConfig',
      renames: {
        'architecture.positions.kind': 'architecture.positions', // enum Positions
        'architecture.positions.theta': 'architecture.rope_theta',
        'architecture.positions.rotaryFraction': 'architecture.rotary_fraction',
        'architecture.positions.scaling.kind': 'architecture.rope_scaling.factor', // llama3, the only kind: on where factor > 0
        'architecture.positions.scaling.': 'architecture.rope_scaling.',
        'architecture.biases.qkv': 'architecture.qkv_bias',
        'architecture.biases.attnOut': 'architecture.attn_out_bias',
        'architecture.biases.mlp': 'architecture.mlp_bias',
        'head.kind': 'num_classes', // 0: a language-model head
        'head.numClasses': 'num_classes',
      },
    },
  },
  Batch: {
    dts: 'RawBatch',
    model: { files: ['packages/model/src/batch.ts'], name: 'Batch' },
    binding: { functions: ['parse_batch'], root: 'batch', known: { o: 'batch', name: 'batch' } },
    cpp: { name: 'Batch' },
  },
  Minibatch: {
    dts: 'RawMinibatch',
    model: {
      files: ['packages/model/src/engine.ts', 'packages/model/src/batch.ts'],
      name: 'Minibatch',
      restates: "a union over the loss that ties each loss to its targets and parameters, narrower than RawMinibatch's optional fields",
    },
    binding: { functions: ['parse_batch', 'parse_loss'], root: 'minibatch', known: { o: 'minibatch', name: 'minibatch' } },
    cpp: {
      name: 'Minibatch',
      renames: {
        tokens: 'batch.tokens',
        lengths: 'batch.lengths',
        batch: 'batch.batch',
        seqLen: 'batch.seq_len',
        loss: 'loss.kind', // enum LossKind
        targets: 'loss.token_targets',
        softTargets: 'loss.soft_targets',
        alpha: 'loss.alpha',
        beta: 'loss.beta',
      },
    },
  },
  OptimizerOptions: {
    dts: 'RawOptimizer',
    model: { files: ['packages/model/src/optimizer.ts'], name: 'OptimizerOptions' },
    binding: { functions: ['parse_optimizer'], root: 'optimizer' },
    cpp: {
      name: 'OptimizerOptions',
      renames: { lr: 'adamw.lr', beta1: 'adamw.beta1', beta2: 'adamw.beta2', eps: 'adamw.eps', weightDecay: 'adamw.weight_decay' },
      only: {
        'adamw.step': "the model's step counter (bias correction), set by the engine, not an option",
        'adamw.grad_scale': "the step's clipping factor, set by the engine, not an option",
      },
    },
  },
};

/** The C++ path of declared field `path`: its rename (exact, else the longest prefix), else its snake_case. */
function cppPath(path: string, renames: Record<string, string>): string {
  if (renames[path] !== undefined) return renames[path];
  const prefix = Object.keys(renames)
    .filter((key) => key.endsWith('.') && path.startsWith(key))
    .sort((a, b) => b.length - a.length)[0];
  return prefix ? renames[prefix] + snakeCase(path.slice(prefix.length)) : snakeCase(path);
}

/** Every disagreement between the declaration of `record`, @w2s/model's type, the binding and the C++ struct, one sentence each. */
function drift(what: string, record: Declared): string[] {
  const dtsWhere = `${DTS} (${record.dts})`;
  const modelWhere = `${record.model.files[0]} (${record.model.name})`;
  const bindingWhere = `${BINDING} (${record.binding.functions.join(', ')})`;
  const cppWhere = `${HEADERS[0]} (struct ${record.cpp.name})`;
  const modelOnly = new Set(Object.keys(record.model.only ?? {}));
  const cppOnly = new Set(Object.keys(record.cpp.only ?? {}));
  const renames = record.cpp.renames ?? {};

  const declared = tsFields([DTS], record.dts);
  const model = tsFields([...record.model.files, DTS], record.model.name);
  const own = tsFields(record.model.files, record.model.name); // without the declaration's types
  const read = bindingReads(BINDING, record.binding.functions, record.binding.root, record.binding.known);
  const cpp = cppFields(HEADERS, record.cpp.name);

  const problems: string[] = [];
  const compare = (fields: readonly string[], where: string) => {
    for (const field of declared)
      if (!fields.includes(field)) problems.push(`${what} field '${field}' is declared in ${dtsWhere} but missing from ${where}`);
    for (const field of fields)
      if (!declared.includes(field))
        problems.push(
          modelOnly.has(field)
            ? `${what} field '${field}' is in ${where}, but ${modelWhere} declares it TypeScript-only (${record.model.only![field]})`
            : `${what} field '${field}' is in ${where} but not declared in ${dtsWhere}`,
        );
  };
  compare(
    model.filter((field) => !modelOnly.has(field)),
    modelWhere,
  );
  compare(read, bindingWhere);
  if (!record.model.restates)
    for (const field of own)
      if (!modelOnly.has(field))
        problems.push(`${what} field '${field}' is declared again in ${modelWhere}: import it from ${dtsWhere} (import type) instead`);

  const mapped = new Set<string>();
  for (const field of declared) {
    const member = cppPath(field, renames);
    mapped.add(member);
    if (!cpp.includes(member))
      problems.push(`${what} field '${field}' is declared in ${dtsWhere} but ${cppWhere} has no member '${member}' for it`);
  }
  for (const member of cpp)
    if (!mapped.has(member) && !cppOnly.has(member)) problems.push(`${what} member '${member}' of ${cppWhere} matches no field of ${dtsWhere}`);
  for (const member of cppOnly)
    if (!cpp.includes(member)) problems.push(`${what}: '${member}' is listed as C++-only but ${cppWhere} has no such member`);
  for (const field of modelOnly)
    if (!model.includes(field)) problems.push(`${what}: '${field}' is listed as TypeScript-only but ${modelWhere} does not declare it`);
  for (const key of Object.keys(renames))
    if (!declared.some((field) => field === key || (key.endsWith('.') && field.startsWith(key))))
      problems.push(`${what}: the C++ name given for '${key}' matches no field of ${dtsWhere}`);
  return problems;
}

describe('the records the engine takes: index.d.ts declares them, @w2s/model imports them, the binding and C++ agree', () => {
  it.each(Object.keys(RECORDS))('%s', (what) => {
    expect(drift(what, RECORDS[what]), `${what}: the declarations disagree`).toEqual([]);
  });

  it('the readers find the fields (so that agreement is not between empty lists)', () => {
    expect(tsFields([DTS], 'RawModelConfig')).toEqual(
      expect.arrayContaining(['vocabSize', 'head.numClasses', 'architecture.positions.scaling.factor', 'architecture.biases.attnOut']),
    );
    expect(tsFields(['packages/model/src/config.ts', DTS], 'ModelConfig')).toEqual(expect.arrayContaining(['vocabSize', 'slidingWindow']));
    expect(tsFields(['packages/model/src/batch.ts', DTS], 'Batch')).toEqual(['batch', 'lengths', 'seqLen', 'tokens']);
    expect(tsFields(['packages/model/src/optimizer.ts', DTS], 'OptimizerOptions')).toEqual(expect.arrayContaining(['lr', 'maxGradNorm']));
    expect(tsFields([DTS], 'RawMinibatch')).toEqual(expect.arrayContaining(['tokens', 'seqLen', 'softTargets', 'alpha']));
    expect(bindingReads(BINDING, ['parse_config', 'parse_architecture'], 'config')).toEqual(
      expect.arrayContaining(['nKvHeads', 'head.kind', 'architecture.positions.scaling.originalContextLength']),
    );
    expect(cppFields(HEADERS, 'ModelConfig')).toEqual(expect.arrayContaining(['d_ff', 'num_classes', 'architecture.rope_scaling.low_freq_factor']));
    expect(cppFields(HEADERS, 'OptimizerOptions')).toEqual(expect.arrayContaining(['adamw.weight_decay', 'max_grad_norm']));
  });
});

// The batch checks are written in the binding (parse_batch), the engine (Model::upload_batch, behind
// the binding, so not reachable from JS) and the twin (validateBatch). One list of malformed
// batches: the binding, through NativeModel, and the twin must refuse each, naming the same thing;
// and accept the well-formed one.
describe('Batch checks: the binding and the twin refuse the same batches', () => {
  const config = PRESETS['gpt2-tiny']; // vocabulary 97, context 64
  const good: Batch = { tokens: Int32Array.of(1, 2, 3, 4, 5, 6, 0, 0), lengths: Int32Array.of(4, 2), batch: 2, seqLen: 4 };
  const cases: [string, Partial<Batch>, RegExp][] = [
    ['batch 0', { batch: 0, tokens: new Int32Array(0), lengths: new Int32Array(0) }, /batch/],
    ['batch 1.5', { batch: 1.5 }, /batch/],
    ['seqLen 0', { seqLen: 0, batch: 2, tokens: new Int32Array(0) }, /seqLen/],
    ['seqLen past contextLength', { batch: 1, seqLen: 65, tokens: new Int32Array(65), lengths: Int32Array.of(65) }, /seqLen.*64|64.*seqLen/],
    ['too few tokens', { tokens: Int32Array.of(1, 2, 3, 4, 5, 6, 7) }, /tokens.*\b8\b|\b8\b.*tokens/],
    ['too many lengths', { lengths: Int32Array.of(4, 2, 1) }, /lengths/],
    ['a token id of -1', { tokens: Int32Array.of(1, 2, 3, -1, 5, 6, 0, 0) }, /tokens\[3\]/],
    ['a token id of V', { tokens: Int32Array.of(1, 2, 3, 4, 5, 97, 0, 0) }, /tokens\[5\].*97/],
    ['a length of 0', { lengths: Int32Array.of(4, 0) }, /lengths\[1\]/],
    ['a length past seqLen', { lengths: Int32Array.of(5, 2) }, /lengths\[0\]/],
  ];

  it('both accept the well-formed batch', async () => {
    expect(() => validateBatch(config, good)).not.toThrow();
    expect(await new NativeModel(config, { seed: 1 }).forward(good)).toHaveLength(2 * 4 * 97);
  });

  it.each(cases)('%s', async (_, change, names) => {
    const batch = { ...good, ...change };
    const model = new NativeModel(config, { seed: 1 });
    await expect(model.forward(batch), 'the binding').rejects.toThrow(names);
    expect(() => validateBatch(config, batch), 'the twin').toThrow(names);
  });
});

// The optimizer's bounds are declared once in TypeScript (optimizer.ts, which the twin's AdamW
// uses) and enforced again by the binding (parse_optimizer): each out-of-bounds option is refused
// by both, with the same message.
describe('Optimizer checks: the binding and the twin refuse the same options, in the same words', () => {
  const config = PRESETS['gpt2-tiny'];
  const batch: Batch = { tokens: Int32Array.of(1, 2, 3, 4), lengths: Int32Array.of(4), batch: 1, seqLen: 4 };
  const cases: [string, OptimizerOptions][] = [
    ['lr -1', { lr: -1 }],
    ['beta1 1', { lr: 1e-3, beta1: 1 }],
    ['beta2 -0.5', { lr: 1e-3, beta2: -0.5 }],
    ['eps 0', { lr: 1e-3, eps: 0 }],
    ['weightDecay -1', { lr: 1e-3, weightDecay: -1 }],
    ['maxGradNorm -1', { lr: 1e-3, maxGradNorm: -1 }],
  ];

  it.each(cases)('%s', async (_, options) => {
    let twinMessage = '';
    try {
      new TwinAdamW(config, options);
    } catch (e) {
      twinMessage = (e as Error).message;
    }
    expect(twinMessage).toMatch(/^optimizer\./);
    const model = new NativeModel(withHead(config, { kind: 'lm' }), { seed: 1 });
    await expect(model.trainStep([{ ...batch, loss: 'token', targets: Int32Array.of(2, 3, 4, 5) }], options)).rejects.toThrow(twinMessage);
    model.dispose();
  });

  it("the defaults are the binding's (read from its source)", () => {
    const source = readFileSync(new URL('../../../native/src/napi/engine_binding.cpp', import.meta.url), 'utf8');
    const defaults = Object.fromEntries([...source.matchAll(/o\.Get\("(\w+)"\), "optimizer\.\w+", ([-0-9.e]+)\)/g)].map((m) => [m[1], Number(m[2])]));
    expect(defaults).toEqual(OPTIMIZER_DEFAULTS);
    expect(new TwinAdamW(config, { lr: 1e-3 }).options).toEqual({ lr: 1e-3, ...OPTIMIZER_DEFAULTS });
  });
});
