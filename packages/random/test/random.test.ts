// The generator's sequences, pinned: stored results (run identities, splits, initial weights) and
// every seeded test depend on them, so any change to the algorithm must fail here first. The values
// are those of the copies this package replaced (in @w2s/data and @w2s/model), printed before the move.
import { describe, expect, it } from 'vitest';
import { choice, mulberry32, normalSource, shuffled } from '../src/index.js';

const take = (next: () => number, n: number) => Array.from({ length: n }, () => next());

describe('@w2s/random', () => {
  it('mulberry32 gives the same uniforms, to the bit, for every seed (negative and over 2^31 taken mod 2^32)', () => {
    expect(take(mulberry32(0), 4)).toEqual([0.26642920868471265, 0.0003297457005828619, 0.2232720274478197, 0.1462021479383111]);
    expect(take(mulberry32(1), 4)).toEqual([0.6270739405881613, 0.002735721180215478, 0.5274470399599522, 0.9810509674716741]);
    expect(take(mulberry32(42), 4)).toEqual([0.6011037519201636, 0.44829055899754167, 0.8524657934904099, 0.6697340414393693]);
    expect(take(mulberry32(0xdeadbeef), 4)).toEqual([0.9413696140982211, 0.26719574979506433, 0.772033357527107, 0.35816076025366783]);
    expect(take(mulberry32(-7), 4)).toEqual([0.43306733411736786, 0.32539576734416187, 0.5442695003002882, 0.48018999374471605]);
    expect(take(mulberry32(-7), 4)).toEqual(take(mulberry32(2 ** 32 - 7), 4));
  });

  it('uniforms lie in [0, 1) and are multiples of 2^-32', () => {
    for (const u of take(mulberry32(123), 10_000)) {
      expect(u).toBeGreaterThanOrEqual(0);
      expect(u).toBeLessThan(1);
      expect(Number.isInteger(u * 2 ** 32)).toBe(true);
    }
  });

  it('normalSource, shuffled and choice give the same draws', () => {
    expect(take(normalSource(mulberry32(3)), 3)).toEqual([1.5492425833682681, 0.38392617772663823, 0.9836970989073086]);
    expect(shuffled([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], mulberry32(5))).toEqual([5, 3, 7, 8, 2, 0, 4, 1, 9, 6]);
    expect(choice(['a', 'b', 'c', 'd'], mulberry32(9))).toBe('a');
    expect(() => choice([], mulberry32(9))).toThrow(/empty/);
  });

  it('shuffled leaves its input as it was', () => {
    const items = [1, 2, 3, 4, 5];
    const copy = shuffled(items, mulberry32(1));
    expect(items).toEqual([1, 2, 3, 4, 5]);
    expect([...copy].sort()).toEqual(items);
  });
});
