// The synthetic world: an embedded task that needs no downloaded data. From a seed, a population
// of invented people, each with six binary traits (tea or coffee, left or right hand, ...) and a
// mentor; a corpus of varied sentences stating those facts (the pretraining text); and a binary
// classification task asking, for a person and a trait, which of the two values is true. Some
// traits are never stated directly, only as "takes after <mentor>" (two hops). The knowledge lives
// in the corpus, not in the task's training split: a model answers about a person well only if
// pretraining taught it that person's facts, which bigger models learn better.
import { choice, mulberry32, shuffled } from '../random.js';
import type { Dataset, DatasetSpec, Example } from '../types.js';

export interface WorldOptions {
  seed: number;
  /** People in the world. */
  people: number;
  /** Fraction of traits stated only through the mentor. */
  twoHopFrac: number;
  /** Times each fact is stated in the corpus. */
  mentions: number;
}

/**
 * Tuned on the development machine so that, after 3 M tokens of pretraining (about 4.6 passes),
 * the family's sizes differ in what they know: linear probes on nano stay near chance (about
 * 0.52), micro reaches about 0.7 and mini about 0.89 (see `w2s demo`).
 */
export const DEFAULT_WORLD: Omit<WorldOptions, 'seed'> = { people: 100, twoHopFrac: 0.15, mentions: 24 };

/** A binary trait: what a person does, in one of two ways. */
export interface Trait {
  key: string;
  /** "drinks": the sentence "<name> drinks tea." states the value. */
  verb: string;
  /** "drink": the two-hop sentence "In drink, <name> takes after <mentor>." */
  noun: string;
  /** The value of label 1, then the value of label 0. */
  values: [string, string];
}

export const TRAITS: Trait[] = [
  { key: 'drink', verb: 'drinks', noun: 'drink', values: ['tea', 'coffee'] },
  { key: 'hand', verb: 'writes with the', noun: 'writing', values: ['left hand', 'right hand'] },
  { key: 'time', verb: 'works best in the', noun: 'working hours', values: ['morning', 'evening'] },
  { key: 'travel', verb: 'travels by', noun: 'travel', values: ['boat', 'cart'] },
  { key: 'music', verb: 'plays the', noun: 'music', values: ['flute', 'drum'] },
  { key: 'food', verb: 'eats', noun: 'food', values: ['bread', 'rice'] },
];

export interface Person {
  name: string;
  /** One value index (0: label 1's value, 1: label 0's) per trait, in TRAITS order. */
  traits: number[];
  /** Index of the mentor in World.people. */
  mentor: number;
  /** Traits stated only as "does as <mentor> does" (two hops), by trait key. */
  twoHop: string[];
}

export interface World {
  options: WorldOptions;
  people: Person[];
}

const ONSETS = ['b', 'br', 'd', 'dr', 'f', 'g', 'gr', 'k', 'kl', 'l', 'm', 'n', 'p', 'pr', 'r', 's', 'st', 't', 'th', 'v', 'z'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ei', 'ou'];
const CODAS = ['', 'n', 'r', 'l', 's', 'th', 'm', 'x'];

function inventName(uniform: () => number): string {
  const name = choice(ONSETS, uniform) + choice(VOWELS, uniform) + choice(ONSETS, uniform) + choice(VOWELS, uniform) + choice(CODAS, uniform);
  return name[0].toUpperCase() + name.slice(1);
}

export function generateWorld(options: WorldOptions): World {
  if (!Number.isInteger(options.people) || options.people < 4) throw new RangeError(`people must be an integer >= 4, got ${options.people}`);
  const uniform = mulberry32(options.seed ^ 0x77077);
  const names = new Set<string>();
  for (let attempts = 0; names.size < options.people; attempts++) {
    if (attempts > options.people * 1000) throw new Error(`cannot invent ${options.people} distinct names`);
    names.add(inventName(uniform));
  }
  const people: Person[] = [...names].map((name, i) => ({
    name,
    traits: TRAITS.map(() => (uniform() < 0.5 ? 0 : 1)),
    mentor: (i + 1 + Math.floor(uniform() * (options.people - 1))) % options.people,
    twoHop: [],
  }));
  // A two-hop trait is the mentor's, stated only as "as <mentor> does", the mentor's stated directly.
  for (const person of people) {
    const mentor = people[person.mentor];
    TRAITS.forEach((trait, t) => {
      if (uniform() < options.twoHopFrac && !mentor.twoHop.includes(trait.key)) {
        person.twoHop.push(trait.key);
        person.traits[t] = mentor.traits[t];
      }
    });
  }
  for (const person of people) person.twoHop = person.twoHop.filter((key) => !people[person.mentor].twoHop.includes(key));
  return { options, people };
}

const OPENERS = ['', 'Every day, ', 'As everyone knows, ', 'In the village, ', 'Since childhood, ', 'They say that '];

/**
 * The pretraining corpus: every fact stated `mentions` times, the sentences shuffled and grouped
 * into paragraphs of about ten, separated by blank lines. A direct fact reads
 * "<opening><name> <verb> <value>." with a random opening; a two-hop one "In <noun>, <name> takes
 * after <mentor>."; and each mentor is stated as "<name> learnt everything from <mentor>.".
 */
export function worldCorpus(world: World): string {
  const uniform = mulberry32(world.options.seed ^ 0xc0de);
  const sentences: string[] = [];
  for (const person of world.people) {
    const mentor = world.people[person.mentor].name;
    for (let k = 0; k < world.options.mentions; k++) {
      TRAITS.forEach((trait, t) => {
        sentences.push(
          person.twoHop.includes(trait.key)
            ? `In ${trait.noun}, ${person.name} takes after ${mentor}.`
            : `${choice(OPENERS, uniform)}${person.name} ${trait.verb} ${trait.values[person.traits[t]]}.`,
        );
      });
      sentences.push(`${person.name} learnt everything from ${mentor}.`);
    }
  }
  const order = shuffled(sentences, uniform);
  const paragraphs: string[] = [];
  for (let i = 0; i < order.length; i += 10) paragraphs.push(order.slice(i, i + 10).join(' '));
  return paragraphs.join('\n\n') + '\n';
}

/**
 * The task: one example per person and trait, "<name> <verb> " (with the trailing space), whose
 * label says which of the trait's two values is true (1: the first). The text stops exactly where
 * the corpus states the value, whose first letter differs between the two values, so a model
 * that learnt the fact in pretraining predicts the answer at the last token. Two-hop facts are
 * never stated for the person. The `seed` is unused (the facts are the world's).
 */
export function worldExamples(world: World, seed: number): Example[] {
  void seed;
  const examples: Example[] = [];
  world.people.forEach((person, i) => {
    TRAITS.forEach((trait, t) => {
      examples.push({ id: `synthetic_world/${i}/${trait.key}`, text: `${person.name} ${trait.verb} `, label: person.traits[t] === 0 ? 1 : 0 });
    });
  });
  return examples;
}

/** The world the registered dataset and `w2s demo` use: fixed, whatever the experiment's seed. */
export const DEMO_WORLD: WorldOptions = { seed: 0, ...DEFAULT_WORLD };

/**
 * The registered dataset: statements about DEMO_WORLD (the world its pretraining corpus
 * describes); the experiment's seed draws which statements are true and which false.
 */
export const syntheticWorld: DatasetSpec = {
  name: 'synthetic_world',
  description: 'An invented world (generated, no download): is this statement about a person true? The knowledge comes from pretraining on its corpus',
  license: 'generated by w2s (MIT)',
  needsDataDir: false,
  async load({ seed }): Promise<Dataset> {
    const world = generateWorld(DEMO_WORLD);
    const examples = worldExamples(world, seed);
    return { name: 'synthetic_world', examples, report: { files: [], rows: examples.length, kept: examples.length, skipped: {} } };
  },
};
