// Bundles one benchmark, src/<name>.ts (the first argument: bench-kernels, bench-train,
// bench-batch-loss or bench-generate), with esbuild (it is TypeScript; the repository's setup:
// ../../esbuild.node.mjs) and runs it, passing the remaining command-line arguments through.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProgram } from '../../esbuild.node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
if (!['bench-kernels', 'bench-train', 'bench-batch-loss', 'bench-generate'].includes(name)) {
  console.error(`usage: run.mjs bench-kernels|bench-train|bench-batch-loss|bench-generate [options], got ${name}`);
  process.exit(2);
}
const outfile = join(root, 'dist', `${name}.mjs`);
await bundleProgram(join(root, 'src', `${name}.ts`), outfile);
const result = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
