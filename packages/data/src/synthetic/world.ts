// The synthetic world: an embedded task that needs no downloaded data. From a seed, a population
// of invented people, each with a home town, a trade, a pet and a mentor; a corpus of varied
// sentences stating those facts (pretraining text); and true-or-false statements about them (the
// classification task). Some people's towns are never stated directly, only as "lives in the same
// town as <mentor>" (two hops), so a model needs to have learnt more of the corpus to judge them.
// The knowledge lives in the corpus, not in the task's training split: a model judges a statement
// about a person well only if pretraining taught it that person's facts, which bigger models
// learn better.
import { choice, mulberry32, shuffled } from '../random.js';
import type { Dataset, DatasetSpec, Example } from '../types.js';

export interface WorldOptions {
  seed: number;
  /** People in the world (default 400). */
  people: number;
  /** Fraction of people whose town is stated only through their mentor (default 0.25). */
  twoHopFrac: number;
  /** Times each fact is stated in the corpus, each with a random phrasing (default 12). */
  mentions: number;
}

export const DEFAULT_WORLD: Omit<WorldOptions, 'seed'> = { people: 400, twoHopFrac: 0.25, mentions: 12 };

export interface Person {
  name: string;
  town: string;
  trade: string;
  pet: string;
  /** Index of the mentor in World.people. */
  mentor: number;
  /** The town is stated only as "the same town as the mentor". */
  twoHop: boolean;
}

export interface World {
  options: WorldOptions;
  people: Person[];
  towns: string[];
}

const TRADES = ['baker', 'potter', 'weaver', 'smith', 'carpenter', 'fisher', 'miller', 'tailor', 'mason', 'brewer', 'glazier', 'cooper'];
const PETS = ['cat', 'dog', 'goat', 'parrot', 'hare', 'tortoise', 'ferret', 'owl', 'lizard', 'goose'];
const ONSETS = ['b', 'br', 'd', 'dr', 'f', 'g', 'gr', 'k', 'kl', 'l', 'm', 'n', 'p', 'pr', 'r', 's', 'st', 't', 'th', 'v', 'z'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ei', 'ou'];
const CODAS = ['', 'n', 'r', 'l', 's', 'th', 'm', 'x'];

function inventName(uniform: () => number, syllables: number): string {
  let name = '';
  for (let i = 0; i < syllables; i++) name += choice(ONSETS, uniform) + choice(VOWELS, uniform) + (i === syllables - 1 ? choice(CODAS, uniform) : '');
  return name[0].toUpperCase() + name.slice(1);
}

function uniqueNames(uniform: () => number, count: number, syllables: number, taken: Set<string>): string[] {
  const names: string[] = [];
  for (let attempts = 0; names.length < count; attempts++) {
    if (attempts > count * 1000) throw new Error(`cannot invent ${count} distinct names`);
    const name = inventName(uniform, syllables);
    if (taken.has(name)) continue;
    taken.add(name);
    names.push(name);
  }
  return names;
}

export function generateWorld(options: WorldOptions): World {
  if (!Number.isInteger(options.people) || options.people < 4) throw new RangeError(`people must be an integer >= 4, got ${options.people}`);
  const uniform = mulberry32(options.seed ^ 0x77077);
  const taken = new Set<string>();
  const towns = uniqueNames(uniform, 12, 2, taken);
  const names = uniqueNames(uniform, options.people, 2 + Math.floor(options.people / 2000), taken);
  const people: Person[] = names.map((name, i) => ({
    name,
    town: choice(towns, uniform),
    trade: choice(TRADES, uniform),
    pet: choice(PETS, uniform),
    mentor: (i + 1 + Math.floor(uniform() * (options.people - 1))) % options.people,
    twoHop: false,
  }));
  // Two-hop people share their mentor's town, and their mentor's town is stated directly.
  for (const person of people) {
    if (uniform() < options.twoHopFrac && !people[person.mentor].twoHop) {
      person.twoHop = true;
      person.town = people[person.mentor].town;
    }
  }
  for (const person of people) if (person.twoHop && people[person.mentor].twoHop) person.twoHop = false;
  return { options, people, towns };
}

type Phrasing = (p: Person, world: World) => string;

const TOWN: Phrasing[] = [
  (p) => `${p.name} lives in ${p.town}.`,
  (p) => `${p.name} has a house in ${p.town}.`,
  (p) => `The town of ${p.town} is where ${p.name} lives.`,
  (p) => `In ${p.town} you can meet ${p.name}.`,
];
const TWO_HOP: Phrasing[] = [
  (p, w) => `${p.name} lives in the same town as ${w.people[p.mentor].name}.`,
  (p, w) => `${p.name} and ${w.people[p.mentor].name} live in the same town.`,
];
const TRADE: Phrasing[] = [
  (p) => `${p.name} works as a ${p.trade}.`,
  (p) => `${p.name} is a ${p.trade} by trade.`,
  (p) => `By trade, ${p.name} is a ${p.trade}.`,
];
const PET: Phrasing[] = [
  (p) => `${p.name} keeps a ${p.pet}.`,
  (p) => `${p.name} owns a pet ${p.pet}.`,
  (p) => `The ${p.pet} at home belongs to ${p.name}.`,
];
const MENTOR: Phrasing[] = [
  (p, w) => `${p.name} learnt the trade from ${w.people[p.mentor].name}.`,
  (p, w) => `${w.people[p.mentor].name} is the mentor of ${p.name}.`,
];

/**
 * The pretraining corpus: every fact stated `mentions` times with random phrasings, the sentences
 * shuffled and grouped into paragraphs of about ten, separated by blank lines.
 */
export function worldCorpus(world: World): string {
  const uniform = mulberry32(world.options.seed ^ 0xc0de);
  const sentences: string[] = [];
  for (const person of world.people) {
    for (let k = 0; k < world.options.mentions; k++) {
      sentences.push(choice(person.twoHop ? TWO_HOP : TOWN, uniform)(person, world));
      sentences.push(choice(TRADE, uniform)(person, world));
      sentences.push(choice(PET, uniform)(person, world));
      sentences.push(choice(MENTOR, uniform)(person, world));
    }
  }
  const order = shuffled(sentences, uniform);
  const paragraphs: string[] = [];
  for (let i = 0; i < order.length; i += 10) paragraphs.push(order.slice(i, i + 10).join(' '));
  return paragraphs.join('\n\n') + '\n';
}

/**
 * The task: one statement per person and attribute (town, trade, pet), true (label 1) or, with
 * probability ½, false with another value of that attribute (label 0). Statements use the
 * corpus's first phrasing; a two-hop person's town statement names the town itself, which the
 * corpus never states for them.
 */
export function worldExamples(world: World, seed: number): Example[] {
  const uniform = mulberry32(seed ^ 0x7a5c);
  const examples: Example[] = [];
  world.people.forEach((person, i) => {
    const attributes: [string, string, string[], (p: Person) => string][] = [
      ['town', person.town, world.towns, (p) => `${p.name} lives in ${p.town}.`],
      ['trade', person.trade, TRADES, (p) => `${p.name} works as a ${p.trade}.`],
      ['pet', person.pet, PETS, (p) => `${p.name} keeps a ${p.pet}.`],
    ];
    for (const [attribute, value, values, state] of attributes) {
      const label = uniform() < 0.5 ? 1 : 0;
      const shown = label ? value : choice(values.filter((v) => v !== value), uniform);
      examples.push({ id: `synthetic_world/${i}/${attribute}`, text: state({ ...person, [attribute]: shown } as Person), label });
    }
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
