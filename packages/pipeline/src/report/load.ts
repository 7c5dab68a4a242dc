// Finds and reads the experiment summaries under a folder: every `summary.json` and every
// `*.summary.json`, at any depth. Unreadable, malformed and duplicate files do not stop the report:
// each is listed in `problems` with its path and the reason.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExperimentSummary } from '../summary.js';
import { shortModelLabels, type ModelLabel } from './labels.js';
import { parseSummary } from './validate.js';

export interface LoadedSummaries {
  /**
   * In the order of their files' paths (sorted), duplicates left out, each model named by its
   * short label (labels.ts).
   */
  summaries: ExperimentSummary[];
  /** The labels that stand for a longer name: what each means. */
  models: ModelLabel[];
  /** One line per file or folder that could not be used: `path: reason`. */
  problems: string[];
}

function isSummaryFileName(name: string): boolean {
  return name === 'summary.json' || (name.endsWith('.summary.json') && name.length > '.summary.json'.length);
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The summary files under `folder`, sorted by path; symbolic links to folders are not followed. */
async function findSummaryFiles(folder: string, problems: string[], isRoot: boolean): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if (isRoot) throw new Error(`cannot read the summaries folder ${folder}: ${reasonOf(error)}`);
    problems.push(`${folder}: cannot read this folder (${reasonOf(error)})`);
    return [];
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const entryPath = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await findSummaryFiles(entryPath, problems, false)));
    else if ((entry.isFile() || entry.isSymbolicLink()) && isSummaryFileName(entry.name)) files.push(entryPath);
  }
  return files;
}

function experimentKey(summary: ExperimentSummary): string {
  return JSON.stringify([summary.dataset, summary.weak.model, summary.ceiling.model, summary.seed]);
}

/**
 * Every summary under `dir`. Two files for the same dataset, weak model, strong model and seed
 * would count one experiment twice: the first (by path) is kept, the other listed as a problem.
 * Throws only when `dir` itself cannot be read.
 */
export async function loadSummaries(dir: string): Promise<LoadedSummaries> {
  const problems: string[] = [];
  const files = await findSummaryFiles(dir, problems, true);
  const summaries: ExperimentSummary[] = [];
  const fileOfExperiment = new Map<string, string>();
  for (const file of files) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push(`${file}: cannot read (${reasonOf(error)})`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (error) {
      problems.push(`${file}: not valid JSON (${reasonOf(error)})`);
      continue;
    }
    let summary: ExperimentSummary;
    try {
      summary = parseSummary(json);
    } catch (error) {
      problems.push(`${file}: not an experiment summary (${reasonOf(error)})`);
      continue;
    }
    const key = experimentKey(summary);
    const firstFile = fileOfExperiment.get(key);
    if (firstFile !== undefined) {
      problems.push(`${file}: same dataset, weak model, strong model and seed as ${firstFile}; left out`);
      continue;
    }
    fileOfExperiment.set(key, file);
    summaries.push(summary);
  }
  const labels = shortModelLabels(summaries.flatMap((summary) => [summary.weak.model, summary.ceiling.model]));
  const relabel = (result: ExperimentSummary['weak']) => ({ ...result, model: labels.get(result.model)! });
  return {
    summaries: summaries.map((summary) => ({ ...summary, weak: relabel(summary.weak), ceiling: relabel(summary.ceiling) })),
    models: [...labels].filter(([model, label]) => label !== model).map(([model, label]): ModelLabel => ({ label, model })),
    problems,
  };
}

/** A run a sweep could not complete, as its sweep.json records it. */
export interface FailedRun {
  name: string;
  message: string;
}

/**
 * The failed runs recorded in `dir/sweep.json` (written by `w2s sweep`); none when there is no
 * such file. A malformed file is a problem, not an error.
 */
export async function loadSweepFailures(dir: string): Promise<{ failures: FailedRun[]; problems: string[] }> {
  const file = join(dir, 'sweep.json');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { failures: [], problems: [] };
    return { failures: [], problems: [`${file}: cannot read (${reasonOf(error)})`] };
  }
  let failed: unknown;
  try {
    failed = (JSON.parse(text) as { failed?: unknown } | null)?.failed;
  } catch (error) {
    return { failures: [], problems: [`${file}: not valid JSON (${reasonOf(error)})`] };
  }
  const valid = Array.isArray(failed) && failed.every((f) => f && typeof f.name === 'string' && typeof f.message === 'string');
  if (!valid) return { failures: [], problems: [`${file}: "failed" must be a list of {name, message}`] };
  return { failures: (failed as FailedRun[]).map(({ name, message }) => ({ name, message })), problems: [] };
}
