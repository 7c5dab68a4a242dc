// The results store: one folder per training run, named by a hash of the run's full
// configuration (dataset, splits, model, labels and their supervisor's own configuration,
// training settings, seed, and the arithmetic it trained with: `precision`, 'bf16' or 'tf32',
// absent for float32 so that float32 runs keep the names they had before the field existed), under
// `<root>/runs/`:
//
//   <root>/runs/<dataset>-<role>-<hash>/
//     config.json        the run's configuration (its hash is the folder name's suffix; RunConfig in runs.ts)
//     log.jsonl          one JSON object per line: training steps and evaluations, appended as they happen
//     predictions.json   p(label 1) on the test split, by example id
//     labels.json        p(label 1) on train2: the labels the run gives as a supervisor (the weak labels)
//     metrics.json       written last: its presence marks the run complete
//   <root>/runs/<name>.lock   held (proper-lockfile) while a process computes the run
//
// A complete run is reloaded from its files, never recomputed. A run interrupted at any point
// (even by kill -9) has no metrics.json: the next process to need it takes the lock (a dead
// holder's lock goes stale within LOCK_STALE_MS) and computes it again from scratch. Two processes
// needing the same run: one computes it, the other waits for the lock, then reloads the result.
// Every file but the log is written atomically (temporary file, then rename). A complete run can be
// exported as its files' text and imported into another store (another machine's), checked first.
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import lockfile from 'proper-lockfile';
import writeFileAtomic from 'write-file-atomic';

/** A lock not refreshed for this long belongs to a dead process and may be taken over. */
export const LOCK_STALE_MS = 30_000;

/** JSON with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The first 16 hex digits of the SHA-256 of the canonical JSON. */
export function configHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}

/** What every stored run configuration has; the rest is free-form JSON. */
export interface StoredConfig {
  dataset: { name: string };
  role: string;
}

/** Predictions by example id: p(label 1). */
export interface Predictions {
  ids: string[];
  probs: number[];
}

export interface CompletedRun<M> {
  name: string;
  dir: string;
  config: unknown;
  metrics: M;
  test: Predictions;
  labels: Predictions | null;
}

export class StoreError extends Error {}

/** An exported run that cannot be imported as it is (another run's, malformed): no retry changes it. */
export class InvalidArtifactError extends StoreError {}

function slug(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'run';
}

/** `<dataset>-<role>-<hash>`: readable, and unique by the hash of the whole configuration. */
export function runName(config: StoredConfig): string {
  return `${slug(config.dataset.name)}-${slug(config.role)}-${configHash(config)}`;
}

export class ResultsStore {
  readonly root: string;
  private readonly lockStaleMs: number;

  /** lockStaleMs: how long a lock may go unrefreshed before it counts as a dead holder's (tests shorten it; at least 2000). */
  constructor(root: string, opts: { lockStaleMs?: number } = {}) {
    this.root = root;
    this.lockStaleMs = Math.max(2000, opts.lockStaleMs ?? LOCK_STALE_MS);
  }

  /** The run's folder name under runs/ (runName). */
  runName(config: StoredConfig): string {
    return runName(config);
  }

  runDir(config: StoredConfig): string {
    return join(this.root, 'runs', this.runName(config));
  }

  /** The run's stored results when it is complete, else null. A damaged complete run is an error naming the file. */
  async load<M>(config: StoredConfig): Promise<CompletedRun<M> | null> {
    const dir = this.runDir(config);
    const metricsFile = join(dir, 'metrics.json');
    if (!existsSync(metricsFile)) return null;
    const stored = await readJson(join(dir, 'config.json'));
    if (canonicalJson(stored) !== canonicalJson(config))
      throw new StoreError(`${join(dir, 'config.json')} does not hold the configuration its folder name promises (hash collision or edited file)`);
    const labelsFile = join(dir, 'labels.json');
    return {
      name: this.runName(config),
      dir,
      config: stored,
      metrics: (await readJson(metricsFile)) as M,
      test: checkPredictions(await readJson(join(dir, 'predictions.json')), join(dir, 'predictions.json')),
      labels: existsSync(labelsFile) ? checkPredictions(await readJson(labelsFile), labelsFile) : null,
    };
  }

  /**
   * The run's results: reloaded when complete, otherwise computed by `compute` under the run's
   * lock (waiting while another process holds it, then reloading what that process stored).
   */
  async getOrCompute<M>(config: StoredConfig, compute: (writer: RunWriter) => Promise<RunOutput<M>>): Promise<CompletedRun<M> & { reused: boolean }> {
    const done = await this.load<M>(config);
    if (done) return { ...done, reused: true };
    const dir = this.runDir(config);
    await mkdir(join(this.root, 'runs'), { recursive: true });
    let compromised: Error | null = null;
    const release = await lockfile.lock(dir, {
      realpath: false,
      stale: this.lockStaleMs,
      update: this.lockStaleMs / 3,
      retries: { forever: true, minTimeout: 100, maxTimeout: 2000, factor: 1.5 },
      onCompromised: (err) => {
        compromised = err;
      },
    });
    try {
      const other = await this.load<M>(config);
      if (other) return { ...other, reused: true };
      await rm(dir, { recursive: true, force: true }); // leftovers of an interrupted attempt
      await mkdir(dir, { recursive: true });
      await writeJson(join(dir, 'config.json'), config);
      const writer = new RunWriter(dir);
      const output = await compute(writer);
      if (compromised) throw new StoreError(`lost the lock of ${dir} while computing it: ${(compromised as Error).message}`);
      await writeJson(join(dir, 'predictions.json'), output.test);
      if (output.labels) await writeJson(join(dir, 'labels.json'), output.labels);
      await writeJson(join(dir, 'metrics.json'), output.metrics);
      return { name: this.runName(config), dir, config, metrics: output.metrics, test: output.test, labels: output.labels ?? null, reused: false };
    } finally {
      await release().catch(() => undefined); // a compromised lock is already gone
    }
  }

  /** A complete run's files as text, to carry it to another store (another machine). */
  async exportRun(config: StoredConfig): Promise<RunArtifact> {
    if (!(await this.load(config))) throw new StoreError(`${this.runDir(config)} is not a complete run`);
    const dir = this.runDir(config);
    const files: Record<string, string> = {};
    for (const name of ARTIFACT_FILES) {
      const file = join(dir, name);
      if (existsSync(file)) files[name] = await readFile(file, 'utf8');
    }
    return { name: this.runName(config), files };
  }

  /**
   * Stores a run exported by another store, checked first: its name and config.json must be
   * this configuration's, its JSON files well formed. A run already complete here is kept as it
   * is. Returns whether the artifact was written.
   */
  async importRun(config: StoredConfig, artifact: RunArtifact): Promise<boolean> {
    const name = this.runName(config);
    const where = `the artifact of ${name}`;
    if (artifact.name !== name) throw new InvalidArtifactError(`${where} is named ${JSON.stringify(artifact.name)}`);
    const json = (file: string): unknown => {
      const text = artifact.files[file];
      if (typeof text !== 'string') throw new InvalidArtifactError(`${where} has no ${file}`);
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new InvalidArtifactError(`${where}: ${file} is not valid JSON: ${(err as Error).message}`);
      }
    };
    if (canonicalJson(json('config.json')) !== canonicalJson(config)) throw new InvalidArtifactError(`${where}: config.json holds another configuration`);
    const test = checkPredictions(json('predictions.json'), `${where}: predictions.json`, InvalidArtifactError);
    const labels = artifact.files['labels.json'] === undefined ? undefined : checkPredictions(json('labels.json'), `${where}: labels.json`, InvalidArtifactError);
    const metrics = json('metrics.json');
    if (!metrics || typeof metrics !== 'object') throw new InvalidArtifactError(`${where}: metrics.json must hold an object`);
    const result = await this.getOrCompute(config, async (writer) => {
      await writeFileAtomic(join(writer.dir, 'log.jsonl'), artifact.files['log.jsonl'] ?? '');
      return { metrics, test, ...(labels ? { labels } : {}) };
    });
    return !result.reused;
  }
}

/** The files of a run folder that an artifact carries (metrics.json marks it complete). */
const ARTIFACT_FILES = ['config.json', 'log.jsonl', 'predictions.json', 'labels.json', 'metrics.json'] as const;

/** A complete run's files, by name, as text. */
export interface RunArtifact {
  name: string;
  files: Record<string, string>;
}

/** What a computation hands the store. */
export interface RunOutput<M> {
  metrics: M;
  test: Predictions;
  labels?: Predictions;
}

/** Appends to a run's log.jsonl while it computes. */
export class RunWriter {
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  log(entry: Record<string, unknown>): void {
    appendFileSync(join(this.dir, 'log.jsonl'), JSON.stringify(entry) + '\n');
  }
}

/** Writes JSON atomically (temporary file in the same folder, then rename), creating the folder. */
export async function writeJson(file: string, value: unknown): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
}

async function readJson(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw new StoreError(`cannot read ${file}: ${err.message}`);
  });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StoreError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
}

function checkPredictions(value: unknown, file: string, Failure: new (message: string) => StoreError = StoreError): Predictions {
  const v = value as Partial<Predictions> | null;
  if (!v || !Array.isArray(v.ids) || !Array.isArray(v.probs) || v.ids.length !== v.probs.length)
    throw new Failure(`${file} must hold {ids: string[], probs: number[]} of equal lengths`);
  if (!v.ids.every((id) => typeof id === 'string')) throw new Failure(`${file}: every id must be a string`);
  if (!v.probs.every((p) => typeof p === 'number' && p >= 0 && p <= 1)) throw new Failure(`${file}: every prob must be a number in [0, 1]`);
  return { ids: v.ids, probs: v.probs };
}
