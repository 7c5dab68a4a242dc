// The synthetic world: deterministic by seed, facts stated in the corpus (two-hop towns only
// through the mentor), statements true or false as labelled, and registered as a dataset that
// needs no data folder.
import { describe, expect, it } from 'vitest';
import { DEFAULT_WORLD, generateWorld, loadDataset, worldCorpus, worldExamples } from '../src/index.js';

const options = { ...DEFAULT_WORLD, seed: 3, people: 60, mentions: 3 };

describe('synthetic world', () => {
  it('is deterministic by seed and differs across seeds', () => {
    expect(generateWorld(options)).toEqual(generateWorld(options));
    expect(worldCorpus(generateWorld(options))).toBe(worldCorpus(generateWorld(options)));
    expect(generateWorld({ ...options, seed: 4 }).people[0]).not.toEqual(generateWorld(options).people[0]);
  });

  it('states every fact in the corpus; a two-hop town only through the mentor, who is one-hop', () => {
    const world = generateWorld(options);
    const corpus = worldCorpus(world);
    expect(new Set(world.people.map((p) => p.name)).size).toBe(world.people.length);
    expect(world.people.some((p) => p.twoHop)).toBe(true);
    for (const p of world.people) {
      const mentor = world.people[p.mentor];
      expect(mentor).not.toBe(p);
      expect(corpus).toMatch(new RegExp(`${p.name} (works as a ${p.trade}|is a ${p.trade} by trade)|By trade, ${p.name} is a ${p.trade}`));
      const direct = new RegExp(`${p.name} lives in ${p.town}\\.|${p.name} has a house in ${p.town}|${p.town} is where ${p.name} lives|In ${p.town} you can meet ${p.name}\\.`);
      if (p.twoHop) {
        expect(corpus).not.toMatch(direct);
        expect(mentor.twoHop).toBe(false);
        expect(mentor.town).toBe(p.town);
        expect(corpus).toMatch(new RegExp(`${p.name} (lives in the same town as|and) ${mentor.name}`));
      } else expect(corpus).toMatch(direct);
    }
  });

  it('labels statements by the facts: true ones name the fact, false ones another value', () => {
    const world = generateWorld(options);
    const examples = worldExamples(world, 1);
    expect(examples).toHaveLength(3 * world.people.length);
    for (const e of examples) {
      const [, index, attribute] = e.id.split('/');
      const p = world.people[Number(index)];
      const value = { town: p.town, trade: p.trade, pet: p.pet }[attribute as 'town' | 'trade' | 'pet'];
      expect(e.text.startsWith(p.name + ' ')).toBe(true);
      expect(e.text.endsWith(` ${value}.`)).toBe(e.label === 1);
    }
    const ones = examples.filter((e) => e.label === 1).length / examples.length;
    expect(ones).toBeGreaterThan(0.35);
    expect(ones).toBeLessThan(0.65);
  });

  it('is registered and loads without a data folder; the world does not change with the seed, the statements do', async () => {
    const saved = process.env.W2S_DATA_DIR;
    delete process.env.W2S_DATA_DIR;
    try {
      const a = await loadDataset('synthetic_world', { seed: 0 });
      const b = await loadDataset('synthetic_world', { seed: 1 });
      expect(a.examples.length).toBe(3 * DEFAULT_WORLD.people);
      expect(a.examples.map((e) => e.id)).toEqual(b.examples.map((e) => e.id));
      expect(a.examples.map((e) => e.text.split(' ')[0])).toEqual(b.examples.map((e) => e.text.split(' ')[0]));
      expect(a.examples.map((e) => e.label)).not.toEqual(b.examples.map((e) => e.label));
    } finally {
      if (saved !== undefined) process.env.W2S_DATA_DIR = saved;
    }
  });
});
