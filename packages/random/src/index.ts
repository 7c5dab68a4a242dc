// @w2s/random: the project's one seeded generator, used by every package and every package's tests
// (initial weights, sampling, formatters, splits, bootstrap resampling, test inputs). mulberry32
// uniforms, Box–Muller normals on them, shuffles and choices: deterministic from the seed,
// independent of the platform. Stored results and tests depend on the exact sequence, so the
// algorithm must not change (test/random.test.ts pins it).

/** mulberry32: uniform numbers in [0, 1) from a 32-bit seed. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal numbers by Box–Muller on a uniform source; each pair of uniforms gives two. */
export function normalSource(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const z = spare;
      spare = null;
      return z;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform())); // 1 − u ∈ (0, 1]: no log(0)
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

/** A shuffled copy (Fisher–Yates). */
export function shuffled<T>(items: readonly T[], uniform: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** One element, uniformly. */
export function choice<T>(items: readonly T[], uniform: () => number): T {
  if (items.length === 0) throw new RangeError('choice from an empty list');
  return items[Math.floor(uniform() * items.length)];
}
