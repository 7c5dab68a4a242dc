// `w2s data list` and `w2s data show NAME`: the registered datasets, and one dataset's counts,
// class balance, skipped rows by reason and three formatted examples. `w2s data corpus NAME...`:
// a pretraining corpus (JSONL, one {dataset, text} per line) of the datasets' training texts,
// labels dropped, and no text that is a test text of any of them (corpusTexts).
import { Command } from 'commander';
import Table from 'cli-table3';
import { resolve } from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import { classCounts, corpusTexts, listDatasets, loadDataset, type Example } from '@w2s/data';
import { integerOption } from '../options.js';

const SHOWN_CHARS = 300;

function cut(text: string): string {
  return text.length > SHOWN_CHARS ? `${text.slice(0, SHOWN_CHARS)}… (${text.length} characters)` : text;
}

export async function runDataShow(name: string, flags: { dataDir?: string; seed: number; json: boolean }): Promise<void> {
  const dataset = await loadDataset(name, { ...(flags.dataDir ? { dataDir: flags.dataDir } : {}), seed: flags.seed });
  const counts = classCounts(dataset.examples);
  const examples: Example[] = dataset.examples.slice(0, 3).map((e) => ({ ...e, text: cut(e.text) }));
  if (flags.json) {
    process.stdout.write(JSON.stringify({ name, ...dataset.report, classes: counts, examples }, null, 2) + '\n');
    return;
  }
  const { rows, kept, skipped, files } = dataset.report;
  const pct = (n: number) => `${((100 * n) / Math.max(1, kept)).toFixed(1)}%`;
  const lines = [
    `${name}: ${kept} examples from ${rows} rows in ${files.length} file(s)`,
    `  label 1: ${counts[1]} (${pct(counts[1])}), label 0: ${counts[0]} (${pct(counts[0])})`,
    `  skipped: ${Object.keys(skipped).length === 0 ? 'none' : Object.entries(skipped).map(([reason, n]) => `${n} (${reason})`).join(', ')}`,
    '',
    ...examples.flatMap((e) => [`[${e.id}] label ${e.label}`, ...e.text.split('\n').map((l) => `  ${l}`), '']),
  ];
  process.stdout.write(lines.join('\n'));
}

export async function runDataCorpus(names: string[], flags: { dataDir?: string; out: string }, write: (text: string) => void): Promise<void> {
  const datasets = [];
  for (const name of names) datasets.push({ name, examples: (await loadDataset(name, flags.dataDir ? { dataDir: flags.dataDir } : {})).examples });
  const { texts, dropped } = corpusTexts(datasets);
  await writeFileAtomic(resolve(flags.out), texts.map((t) => JSON.stringify(t)).join('\n') + '\n');
  const counts = datasets.map(({ name, examples }) => `${name} ${texts.filter((t) => t.dataset === name).length} (of ${examples.length})`);
  write(`${resolve(flags.out)}: ${texts.length} training texts, labels dropped, test texts left out (${dropped} training texts equal to another dataset's test text): ${counts.join(', ')}\n`);
}

export function dataCommand(): Command {
  const data = new Command('data').description('the registered datasets');
  data
    .command('list')
    .description('list the registered datasets')
    .option('--json', 'print as JSON', false)
    .action((flags: { json: boolean }) => {
      const specs = listDatasets().map(({ name, description, license }) => ({ name, description, license }));
      if (flags.json) {
        process.stdout.write(JSON.stringify(specs, null, 2) + '\n');
        return;
      }
      const table = new Table({ head: ['name', 'task', 'licence'], style: { head: [], border: [] }, colWidths: [20, 70, 30], wordWrap: true });
      for (const s of specs) table.push([s.name, s.description, s.license]);
      process.stdout.write(table.toString() + '\n');
    });
  data
    .command('show')
    .description('counts, class balance, skipped rows and three formatted examples of a dataset')
    .argument('<name>', 'a registered dataset (see `w2s data list`)')
    .option('--data-dir <dir>', 'where the datasets are (default: $W2S_DATA_DIR)')
    .option('--seed <n>', "seed of the formatter's random choices", integerOption(0, 2 ** 31 - 1), 0)
    .option('--json', 'print as JSON', false)
    .action(async (name: string, flags: { dataDir?: string; seed: number; json: boolean }) => runDataShow(name, flags));
  data
    .command('corpus')
    .description("write a pretraining corpus of datasets' training texts (JSONL, field text): labels dropped, test texts left out")
    .argument('<names...>', 'registered datasets with a fixed test split (e.g. sst2, imdb, amazon_polarity)')
    .requiredOption('--out <file>', 'the JSONL file to write')
    .option('--data-dir <dir>', 'where the datasets are (default: $W2S_DATA_DIR)')
    .action(async (names: string[], flags: { dataDir?: string; out: string }) => runDataCorpus(names, flags, (text) => process.stdout.write(text)));
  return data;
}
