// Seeded randomness for formatters, splits and balancing: mulberry32 uniforms (the same generator
// as @w2s/model, which this package does not import: it would pull in tfjs and the native addon).

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
