// A ScheduleProgress that records every call, for the tests of the scheduler and of its executors.
import type { ScheduleProgress } from '../src/index.js';

/** Every progress call, as [method, ...arguments], a run's configuration shown by its role. */
export function progressRecorder(): { calls: unknown[][]; progress: ScheduleProgress } {
  const calls: unknown[][] = [];
  const record =
    (method: string) =>
    (...args: unknown[]) =>
      calls.push([method, ...args.map((a) => (a && typeof a === 'object' ? (a as { role: string }).role : a))]);
  const progress: ScheduleProgress = {
    runStarted: record('started'),
    runStep: record('step'),
    runFinished: record('finished'),
    runFailed: record('failed'),
    runRetried: record('retried'),
    runLost: record('lost'),
  };
  return { calls, progress };
}
