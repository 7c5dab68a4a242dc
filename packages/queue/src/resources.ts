// What a worker needs from its own machine: the checkpoints and tokenizer files of the runs'
// models, found by content hash (the sweep names a checkpoint by its SHA-256, and the path it had
// on the sweep's machine is only a hint), and the data files. A worker without a copy says which
// one it lacks and where it looked, and never trains on something else.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { sha256Path, type DataSource, type ModelSource } from '@w2s/pipeline';

/** This machine lacks something a job needs (another worker may have it: the job is retried). */
export class WorkerResourceError extends Error {}

export class LocalResources {
  private readonly hashes = new Map<string, Promise<string>>();
  private readonly resolved = new Map<string, Promise<ModelSource>>();

  /**
   * checkpointDirs: folders holding checkpoints (each entry, and the folder itself, is a
   * candidate); dataDir: this machine's data folder, for registered datasets and table files.
   */
  constructor(
    private readonly checkpointDirs: string[],
    private readonly dataDir?: string,
  ) {}

  /** The model source with this machine's paths; a family model (no checkpoint) needs nothing. */
  model(source: ModelSource): Promise<ModelSource> {
    let found = this.resolved.get(source.identity);
    if (!found) {
      found = this.findModel(source);
      found.catch(() => this.resolved.delete(source.identity)); // a copy may appear later
      this.resolved.set(source.identity, found);
    }
    return found;
  }

  /** The data source with this machine's data folder, or the table file found by name in it. */
  data(source: DataSource): DataSource {
    if (typeof source.dataset === 'string') {
      const dataDir = this.dataDir ?? source.dataDir;
      return { dataset: source.dataset, ...(dataDir !== undefined ? { dataDir } : {}) };
    }
    const table = source.dataset;
    const candidates = [table.path, ...(this.dataDir ? [join(this.dataDir, basename(table.path))] : [])];
    const path = candidates.find((p) => existsSync(p));
    if (!path) throw new WorkerResourceError(`this worker has no table file ${candidates.join(' or ')}; give it --data-dir DIR holding ${basename(table.path)}`);
    return { ...source, dataset: { ...table, path } };
  }

  private async findModel(source: ModelSource): Promise<ModelSource> {
    if (source.checkpoint === null) return source;
    const checkpoint = await this.findByHash(source.identity, [source.checkpoint], `checkpoint ${source.spec}`);
    let tokenizerSpec = source.tokenizerSpec;
    if (source.tokenizerIdentity.startsWith('sha256:')) {
      const hints = [source.tokenizerSpec, join(statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint), basename(source.tokenizerSpec))];
      tokenizerSpec = await this.findByHash(source.tokenizerIdentity, hints, `tokenizer ${source.tokenizerSpec}`);
    }
    return { ...source, checkpoint, tokenizerSpec };
  }

  /** A path whose content hash is `identity` (sha256:<hex>): the hints first, then the checkpoint folders. */
  private async findByHash(identity: string, hints: string[], what: string): Promise<string> {
    const candidates = [...hints];
    for (const dir of this.checkpointDirs) {
      if (!existsSync(dir)) continue;
      candidates.push(dir, ...readdirSync(dir).sort().map((name) => join(dir, name)));
    }
    const seen = new Set<string>();
    const notes: string[] = [];
    for (const candidate of candidates) {
      const path = resolve(candidate);
      if (seen.has(path)) continue;
      seen.add(path);
      if (!existsSync(path)) {
        if (hints.includes(candidate)) notes.push(`${candidate} does not exist here`);
        continue;
      }
      if (`sha256:${await this.hash(path)}` === identity) return path;
      if (hints.includes(candidate)) notes.push(`${candidate} holds other content`);
    }
    const searched = this.checkpointDirs.length > 0 ? `searched ${this.checkpointDirs.join(', ')}` : 'no --checkpoints folder given';
    throw new WorkerResourceError(
      `this worker has no copy of ${what} (content ${identity}): ${[...notes, searched].join('; ')}; put a copy in a folder given to \`w2s worker --checkpoints DIR\``,
    );
  }

  /** A path's content hash, computed once per path, size and modification time. */
  private hash(path: string): Promise<string> {
    const stat = statSync(path);
    const key = `${path}\0${stat.size}\0${stat.mtimeMs}`;
    let hash = this.hashes.get(key);
    if (!hash) {
      hash = sha256Path(path);
      this.hashes.set(key, hash);
    }
    return hash;
  }
}
