// Collecting examples while reading: counts rows, keeps valid examples, and counts every skipped
// row by reason, so the load report accounts for every row.
import type { Dataset, Example } from './types.js';

export class ExampleCollector {
  private readonly examples: Example[] = [];
  private readonly skipped: Record<string, number> = {};
  private readonly files: string[] = [];
  private rows = 0;
  private readonly seen = new Set<string>();

  constructor(private readonly name: string) {}

  file(path: string): void {
    this.files.push(path);
  }

  /**
   * One source row: an example, or the reason it is skipped. Empty or whitespace-only text is
   * skipped, and so is a text seen before (compared with case and spacing normalised): a duplicate
   * could land on both sides of a split, or carry the opposite label.
   */
  row(example: Example | { skip: string }): void {
    this.rows++;
    if ('skip' in example) return this.skip(example.skip);
    const normalised = normalisedText(example.text);
    if (normalised === '') return this.skip('empty text');
    if (this.seen.has(normalised)) return this.skip('duplicate text');
    this.seen.add(normalised);
    this.examples.push(example);
  }

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }

  done(): Dataset {
    return { name: this.name, examples: this.examples, report: { files: this.files, rows: this.rows, kept: this.examples.length, skipped: this.skipped } };
  }
}

/** A text with case and spacing normalised: how readers find duplicates, and corpora test texts. */
export function normalisedText(text: string): string {
  return text.trim().replace(/\s+/g, ' ').toLowerCase();
}
