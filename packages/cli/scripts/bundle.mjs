// Bundles the CLI into one file, dist/w2s.mjs, with esbuild: one file starts faster. The native
// addon stays external (it is loaded from @w2s/native at run time). With --tune, also the demo's
// design script, scripts/tune-demo.ts, as dist/tune-demo.mjs.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = [['src/main.ts', 'w2s.mjs']];
if (process.argv.includes('--tune')) entries.push(['scripts/tune-demo.ts', 'tune-demo.mjs']);
for (const [entry, out] of entries) await build({
  entryPoints: [join(root, entry)],
  outfile: join(root, 'dist', out),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  external: ['@w2s/native'],
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
