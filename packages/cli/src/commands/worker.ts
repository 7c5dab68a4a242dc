// `w2s worker --queue redis://...`: trains the runs of queued sweeps (`w2s sweep --queue`), one
// at a time per worker process, until stopped; any number of workers on any number of machines.
// --concurrency N starts N worker processes (the native kernels already use every thread they
// are given, so a second job in one process would only wait for the first), each with its share
// of the cores unless --threads says otherwise; a worker process that dies is started again.
// Ctrl-C (SIGINT) or SIGTERM: finish the run in hand, then stop; a second one: stop at once (the
// run goes back to the queue for another worker once its lock expires). With --concurrency the
// same holds for the whole group of processes.
import { fork, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { checkQueueReachable, parseQueueUrl, startQueueWorker } from '@w2s/queue';
import { cacheDir } from '../cache.js';
import { integerOption, numberOption } from '../options.js';
import { addDeviceOptions, deviceArgs, useDevice, type DeviceFlags } from '../device.js';
import { applyThreads } from '../threads.js';

/** Set in the environment of the worker processes that --concurrency starts. */
const SUPERVISED_ENV = 'W2S_WORKER_SUPERVISED';

interface WorkerFlags extends DeviceFlags {
  queue: string;
  concurrency: number;
  threads?: number;
  checkpoints: string[];
  dataDir?: string;
  store?: string;
  lockSeconds: number;
}

export async function runWorker(flags: WorkerFlags): Promise<number> {
  useDevice(flags);
  const address = parseQueueUrl(flags.queue, process.env.W2S_REDIS_PASSWORD);
  await checkQueueReachable(address);
  if (flags.concurrency > 1) return superviseWorkers(flags);

  applyThreads(flags.threads);
  const storeDir = resolve(flags.store ?? join(cacheDir(), 'worker-store'));
  const say = (line: string) => process.stderr.write(`w2s worker ${process.pid}: ${line}\n`);
  const worker = await startQueueWorker({
    address,
    storeDir,
    checkpointDirs: flags.checkpoints.map((d) => resolve(d)),
    ...(flags.dataDir !== undefined ? { dataDir: resolve(flags.dataDir) } : {}),
    lockMs: Math.round(flags.lockSeconds * 1000),
    log: say,
  });
  say(`taking jobs from ${address.display} as ${worker.name} (store ${storeDir}; Ctrl-C to stop)`);
  // Under --concurrency the supervisor relays each Ctrl-C as one SIGTERM, so the SIGINT that a
  // terminal sends the whole process group is not counted twice.
  const supervised = process.env[SUPERVISED_ENV] === '1';
  if (supervised) process.on('SIGINT', () => undefined);
  await new Promise<void>((done) => {
    let stopping = false;
    const stop = (signal: NodeJS.Signals) => {
      if (stopping) {
        say(`${signal} again: stopping now (the run in hand goes back to the queue once its lock expires)`);
        process.exit(130);
      }
      stopping = true;
      say(`${signal}: finishing the run in hand, then stopping (${signal} again stops at once)`);
      worker.close().finally(done);
    };
    for (const signal of supervised ? (['SIGTERM'] as const) : (['SIGINT', 'SIGTERM'] as const)) process.on(signal, stop);
  });
  return 0;
}

/** --concurrency N: N worker processes with the same flags; one that dies is started again (at most 5 times a minute). */
async function superviseWorkers(flags: WorkerFlags): Promise<number> {
  const threads = flags.threads ?? Math.max(1, Math.floor(availableParallelism() / flags.concurrency));
  const args = ['worker', '--concurrency', '1', '--queue', flags.queue, ...deviceArgs(flags), '--threads', String(threads), '--lock-seconds', String(flags.lockSeconds)];
  for (const dir of flags.checkpoints) args.push('--checkpoints', dir);
  if (flags.dataDir !== undefined) args.push('--data-dir', flags.dataDir);
  if (flags.store !== undefined) args.push('--store', flags.store);
  const children = new Set<ChildProcess>();
  const restarts: number[] = [];
  let stopping = false;
  return new Promise<number>((done) => {
    const start = () => {
      const child = fork(process.argv[1], args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env, [SUPERVISED_ENV]: '1' } });
      children.add(child);
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (!stopping && code !== 0) {
          const now = Date.now();
          restarts.push(now);
          while (restarts[0] < now - 60_000) restarts.shift();
          if (restarts.length <= 5) {
            process.stderr.write(`w2s worker: process ${child.pid} died (${signal ?? `exit code ${code}`}); starting another\n`);
            start();
          } else process.stderr.write(`w2s worker: process ${child.pid} died (${signal ?? `exit code ${code}`}); too many deaths in a minute, not restarting\n`);
        }
        if (children.size === 0) done(stopping ? 0 : 1);
      });
    };
    for (let i = 0; i < flags.concurrency; i++) start();
    // Each signal to this process is one SIGTERM to each worker: the first lets it finish its
    // run, the second stops it at once.
    const forward = () => {
      stopping = true;
      for (const child of children) child.kill('SIGTERM');
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
  });
}

export function workerCommand(): Command {
  const command = new Command('worker')
    .description('train the runs of queued sweeps (`w2s sweep --queue`) until stopped; start any number, on any number of machines')
    .requiredOption('--queue <url>', 'the Redis queue, redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]')
    .option('--concurrency <n>', 'worker processes (each trains one run at a time)', integerOption(1, 256), 1)
    .option('--threads <n>', 'CPU threads per worker process (default: all cores, shared out over --concurrency)', integerOption(1, 4096))
    .option('--checkpoints <dir>', "a folder holding the sweeps' checkpoints (found by content hash; repeatable)", (dir: string, all: string[]) => [...all, dir], [] as string[])
    .option('--data-dir <dir>', "this machine's data folder (default: the sweep's dataDir, else $W2S_DATA_DIR)")
    .option('--store <dir>', "where this worker keeps runs (default: the cache's worker-store; unused with --artifacts shared)")
    .option('--lock-seconds <s>', "a job's lock lifetime: a dead worker's run is retried after about this long", numberOption(1, 3600), 30);
  return addDeviceOptions(command).action(async (flags: WorkerFlags) => {
    process.exitCode = await runWorker(flags);
  });
}
