// Anthropic HH-RLHF (hh_rlhf/<subset>/test.jsonl.gz: {chosen, rejected}, four subsets pooled). As
// the reference formatter: one example per pair, the chosen conversation (label 1) or the rejected
// one (label 0) with probability ½ each.
import { ExampleCollector } from '../collect.js';
import { mulberry32 } from '@w2s/random';
import { datasetPath, jsonLines } from '../readers.js';
import type { DatasetSpec } from '../types.js';

const SUBSETS = ['harmless-base', 'helpful-base', 'helpful-online', 'helpful-rejection-sampled'];

export const anthropicHh: DatasetSpec = {
  name: 'anthropic_hh',
  description: 'Anthropic HH-RLHF conversations: is this the preferred (chosen) reply?',
  license: 'MIT',
  async load({ dataDir, seed }) {
    const out = new ExampleCollector('anthropic_hh');
    const uniform = mulberry32(seed);
    for (const subset of SUBSETS) {
      const file = datasetPath(dataDir, `hh_rlhf/${subset}/test.jsonl.gz`);
      out.file(file);
      for (const { value, line } of jsonLines(file)) {
        const row = value as { chosen?: unknown; rejected?: unknown } | null;
        if (typeof row?.chosen !== 'string' || typeof row.rejected !== 'string') {
          out.row({ skip: 'missing chosen or rejected' });
          continue;
        }
        const label = uniform() < 0.5 ? 1 : 0;
        out.row({ id: `anthropic_hh/${subset}/${line}`, text: label ? row.chosen : row.rejected, label });
      }
    }
    return out.done();
  },
};
