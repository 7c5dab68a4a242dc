// Run artifacts in Redis: a finished run's folder (config, log, test predictions, the labels it
// gives as a supervisor, metrics) as one JSON value under `w2s:artifact:<runName>`. The run name
// ends in the hash of the run's whole configuration, so an artifact is written once and never
// changes; a transfer job on one machine reads the weak labels a job on another machine wrote,
// and the sweep reads every run into its results store. Artifacts stay after the sweep (they are
// results); `redis-cli --scan --pattern 'w2s:artifact:*'` lists them.
import type { Redis } from 'ioredis';
import type { ResultsStore, RunArtifact, StoredConfig } from '@w2s/pipeline';
import { QUEUE_PREFIX } from './jobs.js';

/** Larger artifacts belong in a shared folder (`--artifacts shared`), not in Redis's memory. */
export const MAX_ARTIFACT_BYTES = 64 * 1024 * 1024;

export class ArtifactError extends Error {}

export class RedisArtifacts {
  constructor(
    private readonly client: Redis,
    private readonly prefix = QUEUE_PREFIX,
  ) {}

  key(runName: string): string {
    return `${this.prefix}:artifact:${runName}`;
  }

  /** Stores an artifact unless one of that name exists already (the same run gives the same name). */
  async put(artifact: RunArtifact): Promise<void> {
    const text = JSON.stringify(artifact);
    const bytes = Buffer.byteLength(text);
    if (bytes > MAX_ARTIFACT_BYTES)
      throw new ArtifactError(`the artifact of ${artifact.name} is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${MAX_ARTIFACT_BYTES / 2 ** 20} MiB that Redis carries; run the sweep with --artifacts shared`);
    await this.client.set(this.key(artifact.name), text, 'NX');
  }

  /** The artifact of a run, or null when no worker has stored it; a malformed value is an error naming its key. */
  async get(runName: string): Promise<RunArtifact | null> {
    const key = this.key(runName);
    const text = await this.client.get(key);
    if (text === null) return null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ArtifactError(`the Redis key ${key} does not hold JSON: ${(err as Error).message}`);
    }
    const v = value as Partial<RunArtifact> | null;
    const files = v?.files as Record<string, unknown> | undefined;
    if (!v || v.name !== runName || !files || typeof files !== 'object' || !Object.values(files).every((f) => typeof f === 'string'))
      throw new ArtifactError(`the Redis key ${key} does not hold the artifact of ${runName} ({name, files: {file: text}})`);
    return { name: runName, files: files as Record<string, string> };
  }

  /** Copies a stored run into a results store; false when the artifact is not in Redis. */
  async download(config: StoredConfig, store: ResultsStore): Promise<boolean> {
    if (await store.load(config)) return true;
    const artifact = await this.get(store.runName(config));
    if (!artifact) return false;
    await store.importRun(config, artifact);
    return true;
  }

  /** Copies a complete run of a results store into Redis (once). */
  async upload(config: StoredConfig, store: ResultsStore): Promise<void> {
    if ((await this.client.exists(this.key(store.runName(config)))) === 1) return;
    await this.put(await store.exportRun(config));
  }
}
