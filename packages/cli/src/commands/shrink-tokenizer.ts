// `w2s shrink-tokenizer --from DIR --vocab-size N --out DIR`: a byte-level BPE tokenizer laid out
// as GPT-2's (byte tokens at ids 0-255, merge r making id 256 + r; Pythia's, with special tokens
// first, is refused) cut to its first merges (shrinkBpeTokenizer), for models whose LM head should
// cost less than a 50k-row vocabulary.
import { resolve } from 'node:path';
import { Command } from 'commander';
import { shrinkBpeTokenizer } from '@w2s/model';
import { integerOption } from '../options.js';

export async function runShrinkTokenizer(flags: { from: string; vocabSize: number; out: string }, write: (text: string) => void): Promise<void> {
  const result = await shrinkBpeTokenizer(resolve(flags.from), flags.vocabSize, resolve(flags.out));
  const added = result.addedTokens.map((t) => `${t.content} ${t.id}`).join(', ');
  write(`${resolve(flags.out)}: ${result.vocabSize} ids (256 bytes, the first ${result.merges} merges of ${resolve(flags.from)}${added ? `, ${added}` : ''})\n`);
}

export function shrinkTokenizerCommand(): Command {
  return new Command('shrink-tokenizer')
    .description("write a byte-level BPE tokenizer cut to a smaller vocabulary: its byte tokens, its first merges and its added tokens")
    .requiredOption('--from <dir>', 'a Hugging Face tokenizer folder whose tokenizer.json is a byte-level BPE laid out as GPT-2\'s (byte tokens at ids 0-255)')
    .requiredOption('--vocab-size <n>', 'ids in the new vocabulary, added tokens included', integerOption(258))
    .requiredOption('--out <dir>', 'the folder to write tokenizer.json (and tokenizer_config.json) into')
    .action(async (flags: { from: string; vocabSize: number; out: string }) => runShrinkTokenizer(flags, (text) => process.stdout.write(text)));
}
