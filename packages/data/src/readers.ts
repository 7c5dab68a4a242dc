// Reading source files defensively: every failure becomes a DataError naming the file (and the
// line, where there is one). Gzipped files (.gz) are decompressed; CSV and TSV go through
// csv-parse, which handles quoted fields spanning lines.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'csv-parse/sync';
import { DataError } from './types.js';

/** A file's text (gunzipped when it ends in .gz). */
export function readText(file: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new DataError(`cannot read: ${(err as Error).message}`, file);
  }
  if (file.endsWith('.gz')) {
    try {
      bytes = gunzipSync(bytes);
    } catch (err) {
      throw new DataError(`not a valid gzip file: ${(err as Error).message}`, file);
    }
  }
  try {
    return bytes.toString('utf8');
  } catch (err) {
    throw new DataError(`cannot decode as text (${bytes.length} bytes; files over ~512 MB are not supported): ${(err as Error).message}`, file);
  }
}

/** A JSON document; a syntax error names the line. */
export function readJson(file: string): unknown {
  const text = readText(file);
  try {
    return JSON.parse(text);
  } catch (err) {
    const position = /position (\d+)/.exec((err as Error).message);
    const line = position ? text.slice(0, Number(position[1])).split('\n').length : undefined;
    throw new DataError(`invalid JSON: ${(err as Error).message}`, file, line);
  }
}

/** Each non-empty line of a JSON Lines file, parsed, with its 1-based line number. */
export function* jsonLines(file: string): Generator<{ value: unknown; line: number }> {
  const lines = readText(file).split('\n');
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i].trim();
    if (text === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new DataError(`invalid JSON: ${(err as Error).message}`, file, i + 1);
    }
    yield { value, line: i + 1 };
  }
}

export interface DelimitedOptions {
  delimiter: ',' | '\t';
  /** Honour double quotes (CSV); TSV files here use none, and their text may hold bare quotes. */
  quoted: boolean;
}

/** The records of a CSV or TSV file, each with the line it starts on. */
export function delimitedRecords(file: string, opts: DelimitedOptions): { fields: string[]; line: number }[] {
  const text = readText(file);
  let parsed: { record: string[]; info: { lines: number } }[];
  try {
    parsed = parse(text, { delimiter: opts.delimiter, quote: opts.quoted ? "\"" : false, relax_column_count: true, skip_empty_lines: true, info: true, bom: true }) as unknown as typeof parsed;
  } catch (err) {
    const line = typeof (err as { lines?: unknown }).lines === 'number' ? ((err as { lines: number }).lines) : undefined;
    throw new DataError(`malformed ${opts.delimiter === ',' ? 'CSV' : 'TSV'}: ${(err as Error).message}`, file, line);
  }
  let previousEnd = 0;
  return parsed.map(({ record, info }) => {
    const line = previousEnd + 1;
    previousEnd = info.lines;
    return { fields: record, line };
  });
}

/** Records as objects keyed by the header row's names. */
export function delimitedObjects(file: string, opts: DelimitedOptions): { row: Record<string, string>; line: number }[] {
  const [header, ...records] = delimitedRecords(file, opts);
  if (!header) return [];
  return records.map(({ fields, line }) => ({ row: Object.fromEntries(header.fields.map((name, i) => [name, fields[i]])), line }));
}

/** dataDir/sub, which must exist: otherwise an error naming the expected path. */
export function datasetPath(dataDir: string, sub: string): string {
  const path = join(dataDir, sub);
  if (!existsSync(path)) throw new DataError(`not found: expected ${path} under the data folder ${dataDir} (see its README for the layout)`, path);
  return path;
}

/** The files of a folder whose names match, sorted; an error when there are none. */
export function filesIn(dir: string, pattern: RegExp): string[] {
  if (!statSync(dir).isDirectory()) throw new DataError('expected a folder', dir);
  const files = readdirSync(dir).filter((f) => pattern.test(f)).sort().map((f) => join(dir, f));
  if (files.length === 0) throw new DataError(`no file matching ${pattern} in this folder`, dir);
  return files;
}
