// `w2s report DIR`: the tables (terminal and Markdown) and the paper-style SVG plots of every
// experiment summary under DIR (from `w2s run` or `w2s sweep`), with the failed runs that
// DIR/sweep.json records, written to DIR/report unless --out says otherwise.
import { resolve } from 'node:path';
import { Command } from 'commander';
import { buildTables, loadSummaries, loadSweepFailures, writeReport } from '@w2s/pipeline';

interface ReportFlags {
  out?: string;
  json: boolean;
}

export async function runReport(dir: string, flags: ReportFlags): Promise<number> {
  const root = resolve(dir);
  const outDir = resolve(flags.out ?? resolve(root, 'report'));
  const { summaries, models, problems } = await loadSummaries(root);
  const sweep = await loadSweepFailures(root);
  if (flags.json) {
    process.stdout.write(JSON.stringify({ tables: buildTables(summaries), models, failedRuns: sweep.failures, problems: [...problems, ...sweep.problems] }, null, 2) + '\n');
    return summaries.length > 0 ? 0 : 1;
  }
  for (const problem of [...problems, ...sweep.problems]) process.stderr.write(`w2s report: skipped ${problem}\n`);
  if (summaries.length === 0) {
    for (const f of sweep.failures) process.stderr.write(`w2s report: failed run ${f.name}: ${f.message}\n`);
    process.stderr.write(`w2s report: no experiment summaries (summary.json, *.summary.json) under ${root}\n`);
    return 1;
  }
  const report = await writeReport(root, outDir);
  process.stdout.write(`${report.terminal}\nreport: ${report.markdownPath}\n${report.plotPaths.map((p) => `plot: ${p}\n`).join('')}`);
  return 0;
}

export function reportCommand(): Command {
  return new Command('report')
    .description('tables, Markdown and SVG plots of the experiments under DIR (PGR per model pair on accuracy and AUROC, bootstrap 95% intervals over seeds)')
    .argument('<dir>', 'a folder written by `w2s run --out` or `w2s sweep --out`')
    .option('--out <dir>', 'where to write report.md and the plots (default: DIR/report)')
    .option('--json', 'print the tables as JSON instead (writes nothing)', false)
    .action(async (dir: string, flags: ReportFlags) => {
      process.exitCode = await runReport(dir, flags);
    });
}
