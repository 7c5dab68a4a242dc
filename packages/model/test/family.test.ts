// The project's model family: valid configs over the byte tokenizer, each size 3–4× the one before.
import { describe, expect, it } from 'vitest';
import { FAMILY, FAMILY_TOKENIZER, parameterCount, validateConfig, withHead } from '../src/config.js';
import { loadTokenizer } from '../src/tokenizers/index.js';

describe('model family', () => {
  const names = Object.keys(FAMILY);

  it('has the five named sizes in order, each a valid config whose vocabulary is the tokenizer\'s', async () => {
    expect(names).toEqual(['nano', 'micro', 'mini', 'small', 'base']);
    const tokenizer = await loadTokenizer(FAMILY_TOKENIZER);
    for (const name of names) {
      expect(() => validateConfig(FAMILY[name])).not.toThrow();
      expect(FAMILY[name].vocabSize).toBe(tokenizer.vocabSize);
    }
  });

  it('each size has 3 to 4.2 times the parameters of the one before (with a classifier head)', () => {
    const counts = names.map((name) => parameterCount(withHead(FAMILY[name], { kind: 'classifier', numClasses: 2 })));
    for (let i = 1; i < counts.length; i++) {
      const ratio = counts[i] / counts[i - 1];
      expect(ratio, `${names[i]} / ${names[i - 1]} = ${counts[i]} / ${counts[i - 1]}`).toBeGreaterThanOrEqual(3);
      expect(ratio, `${names[i]} / ${names[i - 1]} = ${counts[i]} / ${counts[i - 1]}`).toBeLessThanOrEqual(4.2);
    }
  });
});
