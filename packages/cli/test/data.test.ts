// `w2s data list` and `w2s data show` as a user runs them.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { dataDir, needsData, w2s } from './fixtures.js';

const sciq = needsData('`w2s data show sciq`', 'sciq/sciq.json');

describe('w2s data', () => {
  it('list: the twelve datasets, as a table and as JSON', () => {
    const json = w2s('data', 'list', '--json');
    expect(json.status, json.stderr).toBe(0);
    const specs = JSON.parse(json.stdout) as { name: string; description: string; license: string }[];
    expect(specs.map((s) => s.name)).toEqual(['sciq', 'boolq', 'cosmos_qa', 'amazon_polarity', 'sst2', 'sst2_sentences', 'imdb', 'ethics_commonsense', 'anthropic_hh', 'quail', 'chess_puzzles', 'synthetic_world']);
    for (const s of specs) expect(s.description.length).toBeGreaterThan(10);
    const table = w2s('data', 'list');
    for (const s of specs) expect(table.stdout).toContain(s.name);
  });

  sciq.it('show: counts, class balance, skipped rows and three examples', () => {
    const r = w2s('data', 'show', 'sciq', '--data-dir', dataDir, '--json');
    expect(r.status, r.stderr).toBe(0);
    const shown = JSON.parse(r.stdout);
    expect(shown.rows).toBe(13_679);
    const skipped = Object.values(shown.skipped as Record<string, number>).reduce((a, b) => a + b, 0);
    expect(shown.kept).toBe(13_679 - skipped);
    expect(shown.classes[0] + shown.classes[1]).toBe(shown.kept);
    expect(shown.examples).toHaveLength(3);
    expect(shown.examples[0].text).toMatch(/^Q: .* A: /);
    const text = w2s('data', 'show', 'sciq', '--data-dir', dataDir);
    expect(text.stdout).toMatch(new RegExp(`^sciq: ${shown.kept} examples from 13679 rows in 1 file\\(s\\)\\n  label 1: \\d+ \\(\\d+\\.\\d%\\), label 0: \\d+`));
    expect(text.stdout).toContain(`${skipped} (duplicate text)`);
  });

  it('show: unknown names and missing folders are errors that say what to do', () => {
    let r = w2s('data', 'show', 'squad');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/unknown dataset "squad": known datasets are sciq, boolq/);
    const empty = mkdtempSync(join(tmpdir(), 'w2s-nodata-'));
    try {
      r = w2s('data', 'show', 'imdb', '--data-dir', empty);
      expect(r.stderr).toContain(`not found: expected ${join(empty, 'imdb')} under the data folder ${empty}`);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});
