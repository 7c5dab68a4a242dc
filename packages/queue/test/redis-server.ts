// A real Redis server for the tests: Debian's redis-server on a free loopback port, without
// persistence, stopped when the test file ends. Where redis-server is not installed the tests
// that need it are skipped with a message, unless W2S_REQUIRE_REDIS=1 (CI sets it), which makes
// its absence a failure instead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

export const redisServerPath = (() => {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : null;
})();

export const redisMissingMessage = 'redis-server is not installed (Debian: apt-get install redis-server): the queue tests that need a Redis server are skipped';

if (!redisServerPath) {
  if (process.env.W2S_REQUIRE_REDIS === '1') throw new Error(`W2S_REQUIRE_REDIS=1 but ${redisMissingMessage}`);
  console.warn(redisMissingMessage);
}

/** A loopback port nothing listens on (at the moment of asking). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts redis-server on a free port, or on `port` (to restart a server that was stopped); extra
 * arguments: e.g. ['--requirepass', 'secret']. Resolves once it accepts connections.
 */
export async function startRedis(extra: string[] = [], fixedPort?: number): Promise<RedisServer> {
  if (!redisServerPath) throw new Error(redisMissingMessage);
  for (let attempt = 0; ; attempt++) {
    const port = fixedPort ?? (await freePort());
    const child = spawn(redisServerPath, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    const ready = await new Promise<boolean>((resolve) => {
      let output = '';
      const timer = setTimeout(() => resolve(false), 10_000);
      child.stdout!.on('data', (d) => {
        output += d;
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (ready) return { port, url: `redis://127.0.0.1:${port}`, stop: () => stopProcess(child) };
    await stopProcess(child);
    if (attempt >= 3) throw new Error(`redis-server did not start on a free port after ${attempt + 1} tries`);
  }
}

function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
