// Bundles one benchmark, src/<name>.ts (the first argument: bench-kernels, bench-train,
// bench-batch-loss or bench-generate), with esbuild (it is TypeScript) and runs it, passing the
// remaining command-line arguments through.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const [name, ...args] = process.argv.slice(2);
if (!['bench-kernels', 'bench-train', 'bench-batch-loss', 'bench-generate'].includes(name)) {
  console.error(`usage: run.mjs bench-kernels|bench-train|bench-batch-loss|bench-generate [options], got ${name}`);
  process.exit(2);
}
const outfile = join(root, 'dist', `${name}.mjs`);
await build({
  entryPoints: [join(root, 'src', `${name}.ts`)],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  external: ['@w2s/native'],
  // CommonJS dependencies (tfjs-backend-wasm's Emscripten glue) use require() and __dirname.
  banner: {
    js: [
      "import { createRequire as __w2sCreateRequire } from 'node:module';",
      "import { fileURLToPath as __w2sFileURLToPath } from 'node:url';",
      'const require = __w2sCreateRequire(import.meta.url);',
      'const __filename = __w2sFileURLToPath(import.meta.url);',
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));",
    ].join(' '),
  },
  logLevel: 'warning',
});
const result = spawnSync(process.execPath, ['--expose-gc', outfile, ...args], { stdio: 'inherit' });
process.exit(result.status ?? 1);
