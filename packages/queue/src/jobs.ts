// The jobs of a queued sweep, as they lie in Redis (BullMQ queue `runs` under the key prefix `w2s`).
//
// A sweep is one BullMQ flow: a root job `sweep.<sweepId>` whose children are the runs that need
// no supervisor (weak models, ceilings). A run's job carries, besides the run, the runs that learn
// from its labels (its dependents, recursively). BullMQ gives a child only one parent, and one
// weak model supervises many students, so dependents cannot all wait on their supervisor as
// children of a static tree; instead the worker that finishes a run adds its dependents as
// children of the run's own job and moves that job to waiting-children: the dependents start only
// once the supervisor's labels exist, and the supervisor's job, and so the sweep's root, completes
// only when everything below it has. Each distinct run of the grid is exactly one job,
// `<sweepId>.<runName>`.
import { join } from 'node:path';
import type { ModelSource, RunNode } from '@w2s/pipeline';

export const QUEUE_PREFIX = 'w2s';
export const QUEUE_NAME = 'runs';

/** Where run artifacts travel: through Redis itself, or in a folder every worker mounts at the same path. */
export type ArtifactMode = { kind: 'redis' } | { kind: 'shared'; root: string };

export interface RunJobData {
  kind: 'run';
  sweepId: string;
  node: RunNode;
  /** Model sources by identity, as the sweep's machine resolved them; workers find their own copies by content hash. */
  models: [string, ModelSource][];
  artifacts: ArtifactMode;
  /** Set once the run is done and its dependents enqueued: the result its job completes with. */
  released?: RunJobResult;
}

export interface SweepJobData {
  kind: 'sweep';
  sweepId: string;
  runs: number;
}

/** What a run's job completes with. */
export interface RunJobResult {
  name: string;
  /** The run was already complete (in the worker's store or among the artifacts): nothing was trained. */
  reused: boolean;
  /** The worker that did it: host:pid. */
  worker: string;
}

/** A running job's progress (BullMQ job progress). */
export interface RunProgressData {
  step: number;
  totalSteps: number;
  loss: number;
}

export function runJobId(sweepId: string, runName: string): string {
  return `${sweepId}.${runName}`;
}

export function sweepJobId(sweepId: string): string {
  return `sweep.${sweepId}`;
}

/**
 * The file a sweep with `--artifacts shared` writes into its folder, by which a worker knows
 * that the path it sees is that folder (and not an empty one of the same name).
 */
export function sharedFolderMarker(root: string, sweepId: string): string {
  return join(root, '.w2s-sweeps', sweepId);
}

/** BullMQ options of a run's job: its id, bounded retries with backoff, and a parent that goes on when it fails. */
export function runJobOptions(sweepId: string, node: RunNode, attempts: number) {
  return {
    jobId: runJobId(sweepId, node.name),
    attempts,
    backoff: { type: 'exponential' as const, delay: 2000 },
    // A failed run must not hold its parent in waiting-children forever: the parent (a supervisor
    // or the sweep) completes and the failure stays visible on the run's own job.
    ignoreDependencyOnFailure: true,
  };
}
