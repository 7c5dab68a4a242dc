// The synthetic world: an embedded task that needs no downloaded data. From a seed, a population
// of invented people, each with six binary traits (beer or milk, boat or mule, ...) and a
// mentor; a corpus of varied sentences stating those facts (the pretraining text); and a binary
// classification task asking, for a person and a trait, which of the two values is true. Some
// traits are never stated directly, only as "takes after <mentor>" (two hops). The knowledge lives
// in the corpus, not in the task's training split: a model answers about a person well only if
// pretraining taught it that person's facts, which bigger models learn better.
import { choice, mulberry32, shuffled } from '@w2s/random';
import type { Dataset, DatasetSpec, Example } from '../types.js';

export interface WorldOptions {
  seed: number;
  /** People in the world. */
  people: number;
  /** Fraction of traits stated only through the mentor. */
  twoHopFrac: number;
  /**
   * Times each of a person's facts is stated in the corpus: drawn once per person, log-uniformly
   * between minMentions and maxMentions (a few people are famous, many are obscure, as in real
   * text); equal bounds state everyone's facts equally often.
   */
  minMentions: number;
  maxMentions: number;
  /** Vary the direct statements with an opening ("As everyone knows, ..."); false: "<name> <verb> <value>." only. */
  openers: boolean;
}

/** The world `w2s demo` pretrains on (its design and what it measured: README.md, `w2s demo`). */
export const DEFAULT_WORLD: Omit<WorldOptions, 'seed'> = { people: 200, twoHopFrac: 0, minMentions: 3, maxMentions: 60, openers: true };

/** A binary trait: what a person does, in one of two ways. */
export interface Trait {
  key: string;
  /** "drinks": the sentence "<name> drinks beer." states the value. */
  verb: string;
  /** "drink": the two-hop sentence "In drink, <name> takes after <mentor>." */
  noun: string;
  /** The value of label 1, then the value of label 0. */
  values: [string, string];
}

/**
 * The traits. Every label-1 value starts with 'b' and every label-0 value with 'm', so the answer
 * to every question is read at the same two next tokens, as the yes/no answers of the paper's NLP
 * tasks are: a linear probe then reads one direction for all six traits. (With a pair of letters
 * per trait, tea/coffee, left/right hand, ..., the probes read micro's knowledge poorly from ~67
 * examples per trait: on world 3, 0.73 against 0.81 for micro's own next-token prediction.)
 */
export const TRAITS: Trait[] = [
  { key: 'drink', verb: 'drinks', noun: 'drink', values: ['beer', 'milk'] },
  { key: 'food', verb: 'eats', noun: 'food', values: ['bread', 'meat'] },
  { key: 'travel', verb: 'travels by', noun: 'travel', values: ['boat', 'mule'] },
  { key: 'music', verb: 'plays the', noun: 'music', values: ['banjo', 'mandolin'] },
  { key: 'work', verb: 'works at the', noun: 'work', values: ['bakery', 'mill'] },
  { key: 'home', verb: 'lives by the', noun: 'home', values: ['bay', 'moor'] },
];

export interface Person {
  name: string;
  /** One value index (0: label 1's value, 1: label 0's) per trait, in TRAITS order. */
  traits: number[];
  /** Index of the mentor in World.people. */
  mentor: number;
  /** Traits stated only as "does as <mentor> does" (two hops), by trait key. */
  twoHop: string[];
  /** Times each of this person's facts is stated in the corpus (their fame). */
  mentions: number;
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
  if (!Number.isInteger(options.minMentions) || options.minMentions < 1 || !Number.isInteger(options.maxMentions) || options.maxMentions < options.minMentions)
    throw new RangeError(`mentions must be integers with 1 <= minMentions <= maxMentions, got ${options.minMentions} and ${options.maxMentions}`);
  if (!(options.twoHopFrac >= 0 && options.twoHopFrac <= 1)) throw new RangeError(`twoHopFrac must be in [0, 1], got ${options.twoHopFrac}`);
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
    mentions: 0,
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
  // Fame, log-uniform: as many people stated 4 to 8 times as 32 to 64 times.
  const logMin = Math.log(options.minMentions), logMax = Math.log(options.maxMentions + 1);
  for (const person of people) person.mentions = Math.min(options.maxMentions, Math.floor(Math.exp(logMin + uniform() * (logMax - logMin))));
  return { options, people };
}

const OPENERS = ['', 'Every day, ', 'As everyone knows, ', 'In the village, ', 'Since childhood, ', 'They say that '];

/** Sentences per document of the corpus. */
const PARAGRAPH = 10;

/**
 * The people a reader of `fraction` of the world reads about, by index: a seeded draw of
 * round(fraction · people) of them (everyone for 1), the same draw for every reader of that
 * fraction of this world. `w2s demo`'s weak model reads half the people, so what it knows is
 * bounded by what it read.
 */
export function peopleRead(world: World, fraction: number): Set<number> {
  if (!(fraction > 0 && fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${fraction}`);
  const everyone = world.people.map((_, i) => i);
  const count = Math.max(1, Math.round(fraction * everyone.length));
  return new Set(shuffled(everyone, mulberry32(world.options.seed ^ 0x4ead)).slice(0, count));
}

/**
 * The pretraining corpus as documents: every fact of a person read (by default everyone) stated
 * `mentions` times (theirs), the sentences shuffled and grouped into paragraphs of ten. A direct
 * fact reads "<opening><name> <verb> <value>." (with a random opening when `openers`, else none);
 * a two-hop one "In <noun>, <name> takes after <mentor>."; and, where the world has two-hop facts,
 * each mentor is stated as "<name> learnt everything from <mentor>.".
 */
export function worldDocuments(world: World, read: ReadonlySet<number> = new Set(world.people.keys())): string[] {
  const uniform = mulberry32(world.options.seed ^ 0xc0de);
  const sentences: string[] = [];
  const mentors = world.people.some((p) => p.twoHop.length > 0);
  world.people.forEach((person, i) => {
    if (!read.has(i)) return;
    const mentor = world.people[person.mentor].name;
    for (let k = 0; k < person.mentions; k++) {
      TRAITS.forEach((trait, t) => {
        sentences.push(
          person.twoHop.includes(trait.key)
            ? `In ${trait.noun}, ${person.name} takes after ${mentor}.`
            : `${world.options.openers ? choice(OPENERS, uniform) : ''}${person.name} ${trait.verb} ${trait.values[person.traits[t]]}.`,
        );
      });
      if (mentors) sentences.push(`${person.name} learnt everything from ${mentor}.`);
    }
  });
  const order = shuffled(sentences, uniform);
  const documents: string[] = [];
  for (let i = 0; i < order.length; i += PARAGRAPH) documents.push(order.slice(i, i + PARAGRAPH).join(' '));
  return documents;
}

/** The corpus as JSONL, one document a line ({"text": ...}), of the people read (by default everyone): pretraining puts BOS before each, as the task's examples start. */
export function worldCorpusJsonl(world: World, read?: ReadonlySet<number>): string {
  return worldDocuments(world, read).map((text) => JSON.stringify({ text })).join('\n') + '\n';
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

/** The world `synthetic_world:<seed>` asks about (`w2s demo --seed <seed>` pretrains on its corpus). */
export function worldOptions(seed: number): WorldOptions {
  return { seed, ...DEFAULT_WORLD };
}

/**
 * The dataset of a world (by default DEFAULT_WORLD's of a seed): for each person and trait, which of the two values is true.
 * Named `synthetic_world:<seed>`; `synthetic_world` is world 0. The experiment's seed changes
 * nothing here (it draws the splits): the facts are the world's.
 */
export function syntheticWorldDataset(world: WorldOptions, name = `synthetic_world:${world.seed}`): DatasetSpec {
  return {
    name,
    description: 'An invented world (generated, no download): which of two values is true of a person? The knowledge comes from pretraining on its corpus (synthetic_world:N: world N)',
    license: 'generated by w2s (MIT)',
    needsDataDir: false,
    async load({ seed }): Promise<Dataset> {
      const examples = worldExamples(generateWorld(world), seed);
      return { name, examples, report: { files: [], rows: examples.length, kept: examples.length, skipped: {} } };
    },
  };
}

/** The registered dataset, world 0. */
export const syntheticWorld: DatasetSpec = syntheticWorldDataset(worldOptions(0), 'synthetic_world');

/** `synthetic_world:<seed>` (seed a decimal integer), else undefined: the registry's worlds besides world 0. */
export function syntheticWorldNamed(name: string): DatasetSpec | undefined {
  const m = /^synthetic_world:(0|[1-9][0-9]{0,14})$/.exec(name);
  return m ? syntheticWorldDataset(worldOptions(Number(m[1]))) : undefined;
}
