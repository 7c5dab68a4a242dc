// The one error type every checkpoint reader and writer throws for a bad file or bad input: the
// message starts with the file's path, then says what is wrong with it.
export class CheckpointError extends Error {
  readonly file: string;

  constructor(file: string, problem: string) {
    super(`${file}: ${problem}`);
    this.name = 'CheckpointError';
    this.file = file;
  }
}

/** Runs `fn`, turning any plain Error it throws (e.g. from validateConfig) into a CheckpointError. */
export function blame<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(file, err instanceof Error ? err.message : String(err));
  }
}
