// The shared data folder for the tests that need real files: ../shared/data beside the repository,
// or $W2S_DATA_DIR. One helper for every package's tests (imported by relative path; it depends on
// nothing but vitest and node).
//
// Where a file is absent, the tests that need it are skipped with a message naming it (a user's
// fresh clone has no data), unless W2S_REQUIRE_DATA=1 (.ci/run sets it): then they run and fail,
// each naming the missing path, so that a wrong or missing data folder cannot pass CI as skips.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeEach, describe, it } from 'vitest';

export const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
export const dataDir = process.env.W2S_DATA_DIR ?? resolve(repoRoot, '../shared/data');
export const dataRequired = process.env.W2S_REQUIRE_DATA === '1';

export interface NeededData {
  /** The needed files or folders, absolute, in the order given. */
  readonly paths: string[];
  /** The ones that do not exist. */
  readonly missing: string[];
  /** True only where something is missing and W2S_REQUIRE_DATA is not 1. */
  readonly skip: boolean;
  /** Throws, naming what is missing and W2S_REQUIRE_DATA, unless everything is present. */
  check(): void;
  /** `it`, skipped where data is missing (with the message), failing there under W2S_REQUIRE_DATA=1. */
  it(name: string, fn: () => unknown, timeout?: number): void;
  /** `describe`, likewise: under W2S_REQUIRE_DATA=1 each of its tests fails (a beforeEach check). */
  describe(name: string, fn: () => void): void;
}

/**
 * What the tests described by `what` (e.g. "the stories260K tests") need: `relativePaths` under the
 * data folder. Warns once, at collection, where something is missing and the tests will be skipped.
 */
export function needsData(what: string, ...relativePaths: string[]): NeededData {
  if (relativePaths.length === 0) throw new Error('needsData: relativePaths must name at least one file or folder under the data folder');
  const paths = relativePaths.map((p) => join(dataDir, p));
  const missing = paths.filter((p) => !existsSync(p));
  const where = process.env.W2S_DATA_DIR !== undefined ? `W2S_DATA_DIR=${dataDir}` : `${dataDir} (the default; set W2S_DATA_DIR to move it)`;
  const skip = missing.length > 0 && !dataRequired;
  if (skip) console.warn(`skipping ${what}: ${missing.join(', ')} not found; the data folder is ${where}`);
  const check = () => {
    if (missing.length > 0) throw new Error(`W2S_REQUIRE_DATA=1, but ${missing.join(', ')} (needed by ${what}) ${missing.length > 1 ? 'are' : 'is'} absent; the data folder is ${where}`);
  };
  return {
    paths,
    missing,
    skip,
    check,
    it(name, fn, timeout) {
      it.skipIf(skip)(name, async () => {
        check();
        await fn();
      }, timeout);
    },
    describe(name, fn) {
      describe.skipIf(skip)(name, () => {
        beforeEach(check);
        fn();
      });
    },
  };
}
