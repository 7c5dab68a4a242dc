// Defensive shape check of a parsed summary.json: turns unknown JSON into an ExperimentSummary or
// throws an error that names the offending field and what was expected there.

import type { Agreement, ExperimentSummary, ModelResult, TransferResult } from '../summary.js';

type JsonObject = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

function fail(field: string, expected: string, value: unknown): never {
  throw new Error(`${field}: expected ${expected}, got ${describe(value)}`);
}

function objectAt(value: unknown, field: string): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(field, 'an object', value);
  return value as JsonObject;
}

function stringAt(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) fail(field, 'a non-empty string', value);
  return value;
}

function finiteAt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) fail(field, 'a finite number', value);
  return value;
}

function fractionAt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) fail(field, 'a number in [0, 1]', value);
  return value;
}

function fractionOrNullAt(value: unknown, field: string): number | null {
  return value === null ? null : fractionAt(value, field);
}

function countAt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) fail(field, 'a non-negative integer', value);
  return value;
}

/** The split sizes; `testPositives` is optional (older summaries lack it) and at most `test`. */
function countsAt(value: unknown, field: string): ExperimentSummary['counts'] {
  const object = objectAt(value, field);
  const counts = {
    train1: countAt(object.train1, `${field}.train1`),
    train2: countAt(object.train2, `${field}.train2`),
    test: countAt(object.test, `${field}.test`),
  };
  if (object.testPositives === undefined) return counts;
  const testPositives = countAt(object.testPositives, `${field}.testPositives`);
  if (testPositives > counts.test) fail(`${field}.testPositives`, `at most ${field}.test (${counts.test})`, testPositives);
  return { ...counts, testPositives };
}

function modelResultAt(value: unknown, field: string): ModelResult {
  const object = objectAt(value, field);
  return {
    model: stringAt(object.model, `${field}.model`),
    run: stringAt(object.run, `${field}.run`),
    accuracy: fractionAt(object.accuracy, `${field}.accuracy`),
    auroc: fractionAt(object.auroc, `${field}.auroc`),
  };
}

function agreementAt(value: unknown, field: string): Agreement {
  const object = objectAt(value, field);
  return {
    overall: fractionAt(object.overall, `${field}.overall`),
    supervisorRight: fractionOrNullAt(object.supervisorRight, `${field}.supervisorRight`),
    supervisorWrong: fractionOrNullAt(object.supervisorWrong, `${field}.supervisorWrong`),
  };
}

function transferResultAt(value: unknown, field: string): TransferResult {
  const object = objectAt(value, field);
  const pgr = object.pgr === null ? null : finiteAt(object.pgr, `${field}.pgr`);
  return {
    loss: stringAt(object.loss, `${field}.loss`),
    run: stringAt(object.run, `${field}.run`),
    accuracy: fractionAt(object.accuracy, `${field}.accuracy`),
    auroc: fractionAt(object.auroc, `${field}.auroc`),
    pgr,
    agreement: agreementAt(object.agreement, `${field}.agreement`),
  };
}

/**
 * The summary in `value`, checked field by field against ExperimentSummary. A transfer loss that
 * appears twice is refused too: the report counts one transfer result per loss and seed.
 */
export function parseSummary(value: unknown): ExperimentSummary {
  const object = objectAt(value, 'summary');
  const dataset = stringAt(object.dataset, 'dataset');
  const seed = finiteAt(object.seed, 'seed');
  const weak = modelResultAt(object.weak, 'weak');
  const ceiling = modelResultAt(object.ceiling, 'ceiling');
  if (!Array.isArray(object.transfer)) fail('transfer', 'an array', object.transfer);
  const transfer = object.transfer.map((entry, index) => transferResultAt(entry, `transfer[${index}]`));
  const seenLosses = new Set<string>();
  for (const [index, result] of transfer.entries()) {
    if (seenLosses.has(result.loss)) {
      throw new Error(`transfer[${index}].loss: ${JSON.stringify(result.loss)} appears more than once`);
    }
    seenLosses.add(result.loss);
  }
  return { dataset, seed, weak, ceiling, transfer, counts: countsAt(object.counts, 'counts') };
}
