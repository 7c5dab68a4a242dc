// The queue's parts on their own: the --queue URL, reaching a Redis server that is missing,
// silent or refusing (an error naming the URL, never a hang), artifacts through a real Redis
// server, and a worker's search for checkpoints and data by content hash.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILY } from '@w2s/model';
import { ResultsStore, sha256Path, type ModelSource } from '@w2s/pipeline';
import { ArtifactError, LocalResources, QueueConnectionError, RedisArtifacts, WorkerResourceError, checkQueueReachable, parseQueueUrl } from '../src/index.js';
import { MAX_ARTIFACT_BYTES } from '../src/artifacts.js';
import { freePort, redisServerPath, startRedis, type RedisServer } from './redis-server.js';

const scratch = mkdtempSync(join(tmpdir(), 'w2s-queue-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('parseQueueUrl', () => {
  it('takes host, port, database, user and password; defaults port 6379 and database 0', () => {
    expect(parseQueueUrl('redis://10.0.0.5:6380/2').redis).toEqual({ host: '10.0.0.5', port: 6380, db: 2 });
    expect(parseQueueUrl('redis://queue.lab').redis).toEqual({ host: 'queue.lab', port: 6379, db: 0 });
    const secret = parseQueueUrl('rediss://w2s:p%40ss@queue.lab:7000/1');
    expect(secret.redis).toEqual({ host: 'queue.lab', port: 7000, db: 1, username: 'w2s', password: 'p@ss', tls: {} });
    expect(secret.display).toBe('rediss://w2s:***@queue.lab:7000/1');
    // A password from the environment (W2S_REDIS_PASSWORD) when the URL has none; the URL's own wins.
    expect(parseQueueUrl('redis://queue.lab', 'from-env').redis.password).toBe('from-env');
    expect(parseQueueUrl('redis://:in-url@queue.lab', 'from-env').redis.password).toBe('in-url');
  });

  it('rejects other schemes, bad databases and query strings, naming the URL without its password', () => {
    expect(() => parseQueueUrl('http://queue.lab:6379')).toThrow(/the scheme http: is not redis: or rediss:/);
    expect(() => parseQueueUrl('redis://queue.lab/abc')).toThrow(/the database "abc" is not a number/);
    expect(() => parseQueueUrl('redis://queue.lab?db=1')).toThrow(/query strings/);
    expect(() => parseQueueUrl('localhost:6379')).toThrow(QueueConnectionError);
    expect(() => parseQueueUrl('redis://:50%off@queue.lab')).toThrow('--queue redis://:***@queue.lab: the user or the password is not valid percent-encoding');
    let message = '';
    try {
      parseQueueUrl('redis://:hunter2@queue.lab/x');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('redis://:***@queue.lab/x');
    expect(message).not.toContain('hunter2');
    // Not a URL at all: whatever stands between the scheme and the last @ is hidden.
    for (const text of ['redis://:se/cret@queue.lab:bad', 'redis://user:pa:ss@queue.lab:x', 'user:pa/ss@queue.lab']) {
      let shown = '';
      try {
        parseQueueUrl(text);
      } catch (err) {
        shown = (err as Error).message;
      }
      expect(shown).toMatch(/\*\*\*@queue\.lab/);
      expect(shown).not.toMatch(/cret|pa:ss|pa\/ss/);
    }
  });
});

describe('checkQueueReachable', () => {
  it('a closed port: an error naming the URL and the refusal, without waiting for the timeout', async () => {
    const port = await freePort();
    // A timeout of an hour, far beyond this test's own (30 s): only the refusal itself can end the
    // check in time, and the error names it (ECONNREFUSED), not a timeout.
    const err = await checkQueueReachable(parseQueueUrl(`redis://127.0.0.1:${port}`), 3_600_000).catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(`cannot use the Redis server at redis://127.0.0.1:${port}: `);
    expect((err as Error).message).toMatch(/ECONNREFUSED/);
    expect((err as Error).message).not.toMatch(/timeout|timed out/i);
  }, 30_000);

  it('a server that accepts and never answers: an error after the timeout, not a hang', async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      await expect(checkQueueReachable(parseQueueUrl(`redis://127.0.0.1:${port}`), 500)).rejects.toThrow(`cannot use the Redis server at redis://127.0.0.1:${port}: `);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});

describe.skipIf(!redisServerPath)('with a real Redis server', () => {
  let server: RedisServer;
  let guarded: RedisServer;
  beforeAll(async () => {
    [server, guarded] = await Promise.all([startRedis(), startRedis(['--requirepass', 'opensesame'])]);
  });
  afterAll(async () => {
    await Promise.all([server?.stop(), guarded?.stop()]);
  });

  it('a server that wants a password refuses none or a wrong one, naming the URL without the password; the right one passes', async () => {
    await expect(checkQueueReachable(parseQueueUrl(guarded.url))).rejects.toThrow(new RegExp(`cannot use the Redis server at ${guarded.url}: NOAUTH`));
    const wrong = checkQueueReachable(parseQueueUrl(`redis://:wrong@127.0.0.1:${guarded.port}`));
    await expect(wrong).rejects.toThrow(`redis://:***@127.0.0.1:${guarded.port}`);
    await expect(wrong).rejects.toThrow(/WRONGPASS/);
    await expect(checkQueueReachable(parseQueueUrl(`redis://:opensesame@127.0.0.1:${guarded.port}`))).resolves.toBeUndefined();
    await expect(checkQueueReachable(parseQueueUrl(guarded.url, 'opensesame'))).resolves.toBeUndefined();
  });

  it('artifacts: a run uploaded from one store downloads into another, once, and malformed values are errors naming the key', async () => {
    const client = new Redis({ ...parseQueueUrl(server.url).redis, maxRetriesPerRequest: 1 });
    try {
      const artifacts = new RedisArtifacts(client);
      const config = { dataset: { name: 'artifact test' }, role: 'weak', seed: 4 };
      const a = new ResultsStore(join(scratch, 'store-a'));
      const b = new ResultsStore(join(scratch, 'store-b'));
      await a.getOrCompute(config, async () => ({ metrics: { accuracy: 0.75 }, test: { ids: ['t1'], probs: [0.9] }, labels: { ids: ['l1', 'l2'], probs: [0.2, 0.6] } }));
      expect(await artifacts.download(config, b)).toBe(false); // nothing uploaded yet
      await artifacts.upload(config, a);
      expect(await artifacts.download(config, b)).toBe(true);
      const copy = await b.load<{ accuracy: number }>(config);
      expect(copy?.metrics).toEqual({ accuracy: 0.75 });
      expect(copy?.labels).toEqual({ ids: ['l1', 'l2'], probs: [0.2, 0.6] });
      // Written once: a second put of another value under the same name changes nothing.
      const stored = await client.get(artifacts.key(a.runName(config)));
      await artifacts.put({ name: a.runName(config), files: { 'metrics.json': '{}' } });
      expect(await client.get(artifacts.key(a.runName(config)))).toBe(stored);

      await client.set(artifacts.key('broken-run'), '{not json');
      await expect(artifacts.get('broken-run')).rejects.toThrow(ArtifactError);
      await expect(artifacts.get('broken-run')).rejects.toThrow(`the Redis key ${artifacts.key('broken-run')} does not hold JSON`);
      await client.set(artifacts.key('odd-run'), JSON.stringify({ name: 'odd-run', files: { 'metrics.json': 3 } }));
      await expect(artifacts.get('odd-run')).rejects.toThrow(/does not hold the artifact of odd-run/);
    } finally {
      client.disconnect();
    }
  });

  it('artifacts: 64 MiB of JSON is stored; one byte more is refused, naming the run and --artifacts shared, and nothing is stored', async () => {
    expect(MAX_ARTIFACT_BYTES).toBe(64 * 2 ** 20);
    const client = new Redis({ ...parseQueueUrl(server.url).redis, maxRetriesPerRequest: 1 });
    try {
      const artifacts = new RedisArtifacts(client);
      // An artifact whose JSON text is `bytes` long: the padding goes into its log.
      const artifactOf = (name: string, bytes: number) => {
        const overhead = Buffer.byteLength(JSON.stringify({ name, files: { 'log.jsonl': '' } }));
        return { name, files: { 'log.jsonl': 'x'.repeat(bytes - overhead) } };
      };
      const fits = artifactOf('run-at-the-limit', 64 * 2 ** 20);
      expect(Buffer.byteLength(JSON.stringify(fits))).toBe(64 * 2 ** 20);
      await artifacts.put(fits);
      expect(await client.strlen(artifacts.key(fits.name))).toBe(64 * 2 ** 20);
      const over = artifactOf('run-over-the-limit', 64 * 2 ** 20 + 1);
      const err = await artifacts.put(over).catch((e: unknown) => e as Error);
      expect(err).toBeInstanceOf(ArtifactError);
      expect((err as Error).message).toBe('the artifact of run-over-the-limit is 64.0 MiB, over the 64 MiB that Redis carries; run the sweep with --artifacts shared');
      expect(await client.exists(artifacts.key(over.name))).toBe(0);
      await client.del(artifacts.key(fits.name));
    } finally {
      client.disconnect();
    }
  });
});

describe('LocalResources', () => {
  const source = (checkpoint: string, identity: string): ModelSource => ({
    spec: checkpoint,
    identity,
    tokenizerSpec: 'byte',
    tokenizerIdentity: 'byte',
    tokenizerSpecials: { bos: true, eos: false },
    config: FAMILY.nano,
    checkpoint,
  });

  it('finds a checkpoint by content hash: at the path the sweep named, else in a --checkpoints folder', async () => {
    const here = join(scratch, 'ckpt-here');
    mkdirSync(here);
    writeFileSync(join(here, 'model.safetensors'), 'weights of the sweep');
    writeFileSync(join(here, 'config.json'), '{"n": 1}');
    const identity = `sha256:${await sha256Path(here)}`;
    expect((await new LocalResources([]).model(source(here, identity))).checkpoint).toBe(here);

    // Elsewhere on this machine: the named path is missing, a copy sits in a checkpoints folder.
    const shelf = join(scratch, 'shelf');
    mkdirSync(join(shelf, 'copy'), { recursive: true });
    writeFileSync(join(shelf, 'unrelated.bin'), 'another model');
    for (const f of ['model.safetensors', 'config.json']) copyFileSync(join(here, f), join(shelf, 'copy', f));
    const missing = join(scratch, 'not-on-this-machine');
    expect((await new LocalResources([shelf]).model(source(missing, identity))).checkpoint).toBe(join(shelf, 'copy'));
  });

  it('a worker without a copy says what it lacks and where it looked, and never takes other content', async () => {
    const named = join(scratch, 'other-content');
    writeFileSync(named, 'not the weights the sweep hashed');
    const identity = `sha256:${'0'.repeat(64)}`;
    const lookup = new LocalResources([join(scratch, 'empty-shelf')]).model(source(named, identity));
    await expect(lookup).rejects.toBeInstanceOf(WorkerResourceError);
    await expect(lookup).rejects.toThrow(`this worker has no copy of checkpoint ${named} (content ${identity}): ${named} holds other content; searched ${join(scratch, 'empty-shelf')}`);
    await expect(new LocalResources([]).model(source(join(scratch, 'gone'), identity))).rejects.toThrow(/gone does not exist here; no --checkpoints folder given/);
    const family: ModelSource = { ...source('nano', 'nano'), checkpoint: null };
    expect(await new LocalResources([]).model(family)).toBe(family);
  });

  it("data: this machine's data folder for registered datasets; a table file at its path or by name in --data-dir", () => {
    expect(new LocalResources([], '/data/here').data({ dataset: 'sciq', dataDir: '/data/there' })).toEqual({ dataset: 'sciq', dataDir: '/data/here' });
    expect(new LocalResources([]).data({ dataset: 'sciq', dataDir: '/data/there' })).toEqual({ dataset: 'sciq', dataDir: '/data/there' });
    const dataDir = join(scratch, 'data');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'rows.csv'), 'text,label\n');
    const table = { path: '/elsewhere/rows.csv', textColumn: 'text', labelColumn: 'label' };
    expect(new LocalResources([], dataDir).data({ dataset: table }).dataset).toEqual({ ...table, path: join(dataDir, 'rows.csv') });
    expect(() => new LocalResources([]).data({ dataset: table })).toThrow('this worker has no table file /elsewhere/rows.csv; give it --data-dir DIR holding rows.csv');
  });
});
