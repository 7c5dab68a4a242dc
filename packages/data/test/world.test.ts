// The synthetic world: deterministic by seed, every fact stated in the corpus (two-hop traits only
// through the mentor), examples labelled by the facts, registered as a dataset needing no data folder.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORLD, TRAITS, generateWorld, loadDataset, worldCorpus, worldExamples } from '../src/index.js';

const options = { ...DEFAULT_WORLD, seed: 3, people: 60, mentions: 3 };

describe('synthetic world', () => {
  it('is deterministic by seed and differs across seeds', () => {
    expect(generateWorld(options)).toEqual(generateWorld(options));
    expect(worldCorpus(generateWorld(options))).toBe(worldCorpus(generateWorld(options)));
    expect(generateWorld({ ...options, seed: 4 }).people[0]).not.toEqual(generateWorld(options).people[0]);
  });

  it('states every fact in the corpus; a two-hop trait only through the mentor, whose trait is stated', () => {
    const world = generateWorld(options);
    const corpus = worldCorpus(world);
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
          expect(corpus).toContain(`In ${trait.noun}, ${p.name} takes after ${mentor.name}.`);
          expect(mentor.twoHop).not.toContain(trait.key);
          expect(mentor.traits[t]).toBe(p.traits[t]);
          expect(corpus).toContain(`${mentor.name} ${trait.verb} ${trait.values[mentor.traits[t]]}.`);
        } else expect(corpus).toContain(direct);
      });
    }
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
    } finally {
      if (saved !== undefined) process.env.W2S_DATA_DIR = saved;
    }
  });
});
