// Where the queue lives: a Redis URL, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (rediss:// for
// TLS). Parsed and checked here once, so that every command fails the same way on a bad URL, and
// reached once before anything is enqueued or taken, so that an unreachable or refusing server is
// a clear error naming the URL (its password hidden) instead of a client retrying forever.
import { Redis } from 'ioredis';

export class QueueConnectionError extends Error {}

/** A server and database, as ioredis and BullMQ take them. */
export interface RedisEndpoint {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: Record<string, never>;
}

export interface QueueAddress {
  redis: RedisEndpoint;
  /** The URL as given, the password replaced by ***: safe to print. */
  display: string;
}

/**
 * Parses a --queue URL; every problem names the URL (without its password) and what is expected.
 * `password` is used when the URL has none (from the environment, so that it stays out of
 * command lines, which other users of the machine can read).
 */
export function parseQueueUrl(text: string, password?: string): QueueAddress {
  const expected = 'a URL redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] (or rediss:// for TLS)';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new QueueConnectionError(`--queue must be ${expected}, got ${JSON.stringify(hideCredentials(text))}`);
  }
  if (url.password) url.password = '***';
  // Only a redis URL says which part is a password; of anything else, hide all before the last @.
  const display = url.protocol === 'redis:' || url.protocol === 'rediss:' ? url.toString() : hideCredentials(text);
  const fail = (what: string): never => {
    throw new QueueConnectionError(`--queue ${display}: ${what}; expected ${expected}`);
  };
  const parsed = new URL(text);
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') fail(`the scheme ${parsed.protocol} is not redis: or rediss:`);
  if (!parsed.hostname) fail('no host');
  if (parsed.search || parsed.hash) fail('query strings and fragments are not accepted');
  const dbText = parsed.pathname.replace(/^\//, '');
  if (dbText !== '' && !/^\d{1,5}$/.test(dbText)) fail(`the database ${JSON.stringify(dbText)} is not a number`);
  const port = parsed.port === '' ? 6379 : Number(parsed.port);
  const decoded = (part: string) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return fail('the user or the password is not valid percent-encoding (write % as %25)');
    }
  };
  const redis: RedisEndpoint = {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port,
    db: dbText === '' ? 0 : Number(dbText),
    ...(parsed.username ? { username: decoded(parsed.username) } : {}),
    ...(parsed.password ? { password: decoded(parsed.password) } : password ? { password } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  return { redis, display };
}

/** Text that failed to parse as a URL, with everything between the scheme and the last @ hidden. */
function hideCredentials(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) return text;
  const scheme = text.indexOf('//');
  const start = scheme >= 0 && scheme < at ? scheme + 2 : 0;
  return `${text.slice(0, start)}***${text.slice(at)}`;
}

/**
 * Connects once and pings, within `timeoutMs`: a refused connection, a wrong password, a
 * server that is not Redis or that does not answer become one QueueConnectionError naming the URL.
 */
export async function checkQueueReachable(address: QueueAddress, timeoutMs = 5000): Promise<void> {
  const client = new Redis({
    ...address.redis,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    commandTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
    enableReadyCheck: false, // so that PING itself meets a refusal (NOAUTH) and says so
  });
  let lastError: Error | null = null;
  client.on('error', (err: Error) => (lastError = err)); // often the cause behind "Connection is closed."
  try {
    await client.connect();
    const pong = await client.ping();
    if (pong !== 'PONG') throw new Error(`PING answered ${JSON.stringify(pong)}`);
  } catch (err) {
    const reason = [lastError, err as Error].filter((e): e is Error => e !== null).map((e) => e.message || String(e)).filter((m, i, all) => all.indexOf(m) === i).join('; ');
    throw new QueueConnectionError(`cannot use the Redis server at ${address.display}: ${reason}`);
  } finally {
    client.disconnect();
  }
}

/** A client for the artifacts and the sweep records, retrying a lost connection like BullMQ's own. */
export function redisClient(address: QueueAddress): Redis {
  return new Redis({ ...address.redis, maxRetriesPerRequest: null });
}
