// `w2s tokenize --tokenizer SPEC [--json] TEXT...`: the token ids a model is given for each text,
// with the special tokens the tokenizer's files add (as the pipeline and `w2s generate` encode it).
// One line per text: the ids separated by spaces, or with --json one JSON array.
import { Command } from 'commander';
import { loadTokenizer, type Tokenizer } from '@w2s/model';

export async function runTokenize(texts: string[], flags: { tokenizer: string; json: boolean }, write: (text: string) => void): Promise<void> {
  let tokenizer: Tokenizer;
  try {
    tokenizer = await loadTokenizer(flags.tokenizer);
  } catch (e) {
    throw new Error(`--tokenizer: ${(e as Error).message}`, { cause: e });
  }
  for (const text of texts) {
    const ids = tokenizer.encode(text, tokenizer.specials);
    write((flags.json ? JSON.stringify(ids) : ids.join(' ')) + '\n');
  }
}

export function tokenizeCommand(): Command {
  return new Command('tokenize')
    .description('print the token ids of each TEXT, special tokens included as the tokenizer adds them')
    .argument('<text...>', 'the texts to tokenize, one argument each')
    .requiredOption('--tokenizer <spec>', 'a Hugging Face tokenizer folder or tokenizer.json, a llama2.c tokenizer .bin, "gpt2" or "byte"')
    .option('--json', 'print one JSON array of ids per text', false)
    .action(async (texts: string[], flags: { tokenizer: string; json: boolean }) => runTokenize(texts, flags, (text) => process.stdout.write(text)));
}
