// The seed of the tests' random inputs, one for every package's tests (imported by relative path;
// it depends on nothing but node): W2S_TEST_SEED when it is set, to replay a run, else a fresh one
// per test file; printed either way, so that any failure can be replayed. The C++ tests read the
// same variable (native/tests/check.h), and so does native/scripts/device-check.cjs.

/** W2S_TEST_SEED, checked, or a fresh 32-bit seed. */
function readSeed(): number {
  const text = process.env.W2S_TEST_SEED;
  if (text === undefined || text.trim() === '') return (Math.random() * 2 ** 32) >>> 0;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** 32) throw new Error(`W2S_TEST_SEED must be an integer in [0, 2^32), got ${JSON.stringify(text)}`);
  return value;
}

export const testSeed: number = readSeed();
console.log(`random seed ${testSeed} (replay with W2S_TEST_SEED=${testSeed})`);

/** A seed per test, derived from the printed seed and a label, so that W2S_TEST_SEED replays each one. */
export function seedFor(label: string): number {
  let h = testSeed;
  for (const ch of label) h = Math.imul(h ^ ch.charCodeAt(0), 2654435761) >>> 0;
  return h;
}
