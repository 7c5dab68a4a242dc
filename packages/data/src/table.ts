// The generic loader: any local JSONL, CSV, TSV or Parquet file with a text column and a label
// column. Labels accepted: 0/1 (numbers or strings) and true/false (booleans or strings, any
// case); any other label, and empty text, is skipped and counted.
import { basename, extname } from 'node:path';
import { readFileSync } from 'node:fs';
import { parquetReadObjects } from 'hyparquet';
import { ExampleCollector } from './collect.js';
import { delimitedObjects, jsonLines } from './readers.js';
import { DataError, type Dataset } from './types.js';

export type TableFormat = 'jsonl' | 'csv' | 'tsv' | 'parquet';

export interface TableOptions {
  textColumn: string;
  labelColumn: string;
  /** Default: from the extension (.jsonl/.json, .csv, .tsv, .parquet). */
  format?: TableFormat;
  /** Default: the file's base name. */
  name?: string;
}

function formatOf(file: string): TableFormat {
  const ext = extname(file).toLowerCase();
  if (ext === '.jsonl' || ext === '.json') return 'jsonl';
  if (ext === '.csv') return 'csv';
  if (ext === '.tsv') return 'tsv';
  if (ext === '.parquet') return 'parquet';
  throw new DataError('unknown format: name it (jsonl, csv, tsv or parquet) or use one of those extensions', file);
}

/** 0 or 1 from the label forms accepted, else null. */
export function parseLabel(value: unknown): 0 | 1 | null {
  if (value === 0 || value === 1) return value;
  if (value === true || value === false) return value ? 1 : 0;
  if (typeof value === 'bigint' && (value === 0n || value === 1n)) return value === 1n ? 1 : 0;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === '1' || v === 'true') return 1;
    if (v === '0' || v === 'false') return 0;
  }
  return null;
}

async function rowsOf(file: string, format: TableFormat): Promise<{ row: Record<string, unknown>; line: number }[]> {
  if (format === 'jsonl') {
    return [...jsonLines(file)].map(({ value, line }) => {
      if (!value || typeof value !== 'object' || Array.isArray(value)) throw new DataError('each line must be a JSON object', file, line);
      return { row: value as Record<string, unknown>, line };
    });
  }
  if (format === 'csv' || format === 'tsv') return delimitedObjects(file, { delimiter: format === 'csv' ? ',' : '\t', quoted: true });
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new DataError(`cannot read: ${(err as Error).message}`, file);
  }
  try {
    const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
    const rows = await parquetReadObjects({ file: buffer });
    return rows.map((row, i) => ({ row, line: i + 1 }));
  } catch (err) {
    throw new DataError(`malformed Parquet: ${(err as Error).message}`, file);
  }
}

export async function loadTableFile(file: string, opts: TableOptions): Promise<Dataset> {
  const format = opts.format ?? formatOf(file);
  const name = opts.name ?? basename(file);
  const rows = await rowsOf(file, format);
  if (rows.length > 0) {
    for (const column of [opts.textColumn, opts.labelColumn])
      if (!rows.some(({ row }) => column in row)) throw new DataError(`no column named ${JSON.stringify(column)} (columns: ${Object.keys(rows[0].row).join(', ')})`, file);
  }
  const out = new ExampleCollector(name);
  out.file(file);
  for (const { row, line } of rows) {
    const text = row[opts.textColumn];
    const label = parseLabel(row[opts.labelColumn]);
    if (typeof text !== 'string') out.row({ skip: 'missing text' });
    else if (label === null) out.row({ skip: 'invalid label' });
    else out.row({ id: `${name}/${line}`, text, label });
  }
  return out.done();
}
