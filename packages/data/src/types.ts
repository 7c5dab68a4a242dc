// The shapes every dataset produces: binary examples with stable ids, and a report of what was
// read and what was skipped (never silently).

export interface Example {
  /** Unique within its dataset and stable across loads (weak labels are joined back by id). */
  id: string;
  text: string;
  label: 0 | 1;
  /**
   * The source's own split, where it has one whose boundary matters (SST-2's training rows are
   * phrases cut from its training sentences, so only its dev and test sentences may be tested on):
   * splitExamples then draws the test split from 'test' examples and training from 'train' ones.
   */
  split?: 'train' | 'test';
}

export interface LoadReport {
  /** The files read. */
  files: string[];
  /** Source rows seen. */
  rows: number;
  /** Examples produced. */
  kept: number;
  /** Rows skipped, by reason (e.g. {"empty text": 3}). */
  skipped: Record<string, number>;
}

export interface Dataset {
  name: string;
  examples: Example[];
  report: LoadReport;
}

export interface LoadOptions {
  /** The data folder (default: $W2S_DATA_DIR). */
  dataDir?: string;
  /** Seed of the formatter's random choices (which distractor, which side). Default 0. */
  seed?: number;
}

export interface DatasetSpec {
  name: string;
  description: string;
  license: string;
  /** false for generated datasets, which read no files (default: true). */
  needsDataDir?: boolean;
  load(opts: { dataDir: string; seed: number }): Promise<Dataset>;
}

/** A data problem: names the file (and the line, when known). */
export class DataError extends Error {
  readonly file?: string;
  readonly line?: number;

  constructor(message: string, file?: string, line?: number) {
    super(file === undefined ? message : `${file}${line === undefined ? '' : `:${line}`}: ${message}`);
    this.name = 'DataError';
    this.file = file;
    this.line = line;
  }
}
