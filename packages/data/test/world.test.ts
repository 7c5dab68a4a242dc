// The synthetic world: deterministic by seed, every fact stated in the corpus as often as its
// person's fame says (two-hop traits only through the mentor), examples labelled by the facts,
// registered as a dataset needing no data folder, world N as synthetic_world:N.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORLD, TRAITS, generateWorld, getDataset, loadDataset, peopleRead, worldCorpusJsonl, worldDocuments, worldExamples } from '../src/index.js';

const options = { ...DEFAULT_WORLD, seed: 3, people: 60, twoHopFrac: 0.15, minMentions: 2, maxMentions: 5, openers: true };

/** Occurrences of `needle` in `text`. */
function count(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

describe('synthetic world', () => {
  it('is deterministic by seed and differs across seeds', () => {
    expect(generateWorld(options)).toEqual(generateWorld(options));
    expect(worldCorpusJsonl(generateWorld(options))).toBe(worldCorpusJsonl(generateWorld(options)));
    expect(generateWorld({ ...options, seed: 4 }).people[0]).not.toEqual(generateWorld(options).people[0]);
  });

  it('states every fact in the corpus; a two-hop trait only through the mentor, whose trait is stated', () => {
    const world = generateWorld(options);
    const corpus = worldDocuments(world).join('\n\n');
    const sentences = worldDocuments(world).flatMap((doc) => doc.split(/(?<=\.) /));
    expect(new Set(world.people.map((p) => p.name)).size).toBe(world.people.length);
    expect(world.people.some((p) => p.twoHop.length > 0)).toBe(true);
    for (const p of world.people) {
      const mentor = world.people[p.mentor];
      expect(mentor).not.toBe(p);
      expect(corpus).toContain(`${p.name} learnt everything from ${mentor.name}.`);
      TRAITS.forEach((trait, t) => {
        const direct = `${p.name} ${trait.verb} ${trait.values[p.traits[t]]}.`;
        const other = `${p.name} ${trait.verb} ${trait.values[1 - p.traits[t]]}.`;
        expect(corpus).not.toContain(other);
        if (p.twoHop.includes(trait.key)) {
          expect(corpus).not.toContain(direct);
          expect(count(corpus, `In ${trait.noun}, ${p.name} takes after ${mentor.name}.`)).toBe(p.mentions);
          expect(mentor.twoHop).not.toContain(trait.key);
          expect(mentor.traits[t]).toBe(p.traits[t]);
          expect(corpus).toContain(`${mentor.name} ${trait.verb} ${trait.values[mentor.traits[t]]}.`);
        } else expect(sentences.filter((sentence) => sentence === direct || sentence.endsWith(` ${direct}`))).toHaveLength(p.mentions);
      });
    }
  });

  it('draws fame log-uniformly between minMentions and maxMentions', () => {
    const world = generateWorld({ ...options, people: 4000, minMentions: 4, maxMentions: 63 });
    const mentions = world.people.map((p) => p.mentions);
    expect(Math.min(...mentions)).toBe(4);
    expect(Math.max(...mentions)).toBe(63);
    // Log-uniform on [4, 64): each octave [4, 8), [8, 16), [16, 32), [32, 64) holds a quarter (±3 SE).
    for (const low of [4, 8, 16, 32]) {
      const share = mentions.filter((m) => m >= low && m < 2 * low).length / mentions.length;
      expect(Math.abs(share - 0.25)).toBeLessThan(3 * Math.sqrt((0.25 * 0.75) / mentions.length));
    }
    expect(generateWorld({ ...options, minMentions: 7, maxMentions: 7 }).people.every((p) => p.mentions === 7)).toBe(true);
  });

  it('without openers and two-hop facts, states each direct fact bare and no mentors', () => {
    const world = generateWorld({ ...options, twoHopFrac: 0, openers: false });
    const sentences = worldDocuments(world).flatMap((doc) => doc.split(/(?<=\.) /));
    const bare = new Set(world.people.flatMap((p) => TRAITS.map((trait, t) => `${p.name} ${trait.verb} ${trait.values[p.traits[t]]}.`)));
    expect(sentences.every((sentence) => bare.has(sentence))).toBe(true);
    expect(sentences).toHaveLength(world.people.reduce((sum, p) => sum + p.mentions * TRAITS.length, 0));
  });

  it('writes the corpus as JSONL, one document of at most ten sentences a line', () => {
    const world = generateWorld(options);
    const lines = worldCorpusJsonl(world).trimEnd().split('\n');
    const documents = lines.map((line) => (JSON.parse(line) as { text: string }).text);
    expect(documents).toEqual(worldDocuments(world));
    expect(documents.every((doc) => doc.split(/(?<=\.) /).length <= 10)).toBe(true);
  });

  it("a reader of a fraction of the world reads a seeded draw of that many people, and the corpus states only theirs", () => {
    const world = generateWorld(options);
    const half = peopleRead(world, 0.5);
    expect(half.size).toBe(Math.round(world.people.length / 2));
    expect(peopleRead(generateWorld(options), 0.5)).toEqual(half);
    expect(peopleRead(generateWorld({ ...options, seed: options.seed + 1 }), 0.5)).not.toEqual(half);
    expect(peopleRead(world, 1).size).toBe(world.people.length);
    const named = (documents: string[]) => new Set(world.people.flatMap((p, i) => (documents.some((d) => d.includes(`${p.name} `)) ? [i] : [])));
    expect(named(worldDocuments(world, half))).toEqual(half);
    expect(named(worldDocuments(world)).size).toBe(world.people.length);
    expect(worldDocuments(world, peopleRead(world, 1))).toEqual(worldDocuments(world));
    expect(() => peopleRead(world, 0)).toThrow(/fraction/);
    expect(() => peopleRead(world, 1.5)).toThrow(/fraction/);
  });

  it('refuses bad options, naming them', () => {
    expect(() => generateWorld({ ...options, minMentions: 0 })).toThrow(/minMentions/);
    expect(() => generateWorld({ ...options, minMentions: 5, maxMentions: 4 })).toThrow(/maxMentions/);
    expect(() => generateWorld({ ...options, twoHopFrac: 1.5 })).toThrow(/twoHopFrac/);
    expect(() => generateWorld({ ...options, people: 3 })).toThrow(/people/);
  });

  it("reads every trait's answer at the same two letters: each label's values share their first letter, the two labels' differ", () => {
    const first = (label: 0 | 1) => new Set(TRAITS.map((trait) => trait.values[label === 1 ? 0 : 1][0]));
    expect(first(1).size).toBe(1);
    expect(first(0).size).toBe(1);
    expect([...first(1)][0]).not.toBe([...first(0)][0]);
  });

  it('asks for each person and trait which value is true: label 1 for the first value', () => {
    const world = generateWorld(options);
    const examples = worldExamples(world, 1);
    expect(examples).toHaveLength(TRAITS.length * world.people.length);
    for (const e of examples) {
      const [, index, key] = e.id.split('/');
      const p = world.people[Number(index)];
      const t = TRAITS.findIndex((trait) => trait.key === key);
      expect(e.text).toBe(`${p.name} ${TRAITS[t].verb} `);
      expect(e.label).toBe(p.traits[t] === 0 ? 1 : 0);
    }
    const ones = examples.filter((e) => e.label === 1).length / examples.length;
    expect(ones).toBeGreaterThan(0.35);
    expect(ones).toBeLessThan(0.65);
  });

  it('is registered and loads without a data folder; the same world whatever the experiment seed', async () => {
    const saved = process.env.W2S_DATA_DIR;
    delete process.env.W2S_DATA_DIR;
    try {
      const a = await loadDataset('synthetic_world', { seed: 0 });
      const b = await loadDataset('synthetic_world', { seed: 1 });
      expect(a.examples.length).toBe(TRAITS.length * DEFAULT_WORLD.people);
      expect(a.examples).toEqual(b.examples);
      // synthetic_world:N is world N: world 0 is synthetic_world, other seeds other people.
      const zero = await loadDataset('synthetic_world:0', { seed: 0 });
      expect(zero.examples).toEqual(a.examples);
      const seven = await loadDataset('synthetic_world:7', { seed: 0 });
      expect(seven.name).toBe('synthetic_world:7');
      expect(seven.examples.map((e) => e.text)).not.toEqual(a.examples.map((e) => e.text));
      for (const bad of ['synthetic_world:', 'synthetic_world:-1', 'synthetic_world:01', 'synthetic_world:1.5', 'synthetic_world:x'])
        expect(() => getDataset(bad), bad).toThrow(/unknown dataset/);
    } finally {
      if (saved !== undefined) process.env.W2S_DATA_DIR = saved;
    }
  });
});
