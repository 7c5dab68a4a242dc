// Collecting examples while reading: counts rows, keeps valid examples, and counts every skipped
// row by reason, so the load report accounts for every row.
import type { Dataset, Example } from './types.js';

export class ExampleCollector {
  private readonly examples: Example[] = [];
  private readonly skipped: Record<string, number> = {};
  private readonly files: string[] = [];
  private rows = 0;

  constructor(private readonly name: string) {}

  file(path: string): void {
    this.files.push(path);
  }

  /** One source row: an example, or the reason it is skipped. Empty or whitespace-only text is skipped. */
  row(example: Example | { skip: string }): void {
    this.rows++;
    if ('skip' in example) this.skip(example.skip);
    else if (example.text.trim() === '') this.skip('empty text');
    else this.examples.push(example);
  }

  skip(reason: string): void {
    this.skipped[reason] = (this.skipped[reason] ?? 0) + 1;
  }

  done(): Dataset {
    return { name: this.name, examples: this.examples, report: { files: this.files, rows: this.rows, kept: this.examples.length, skipped: this.skipped } };
  }
}
