// Replaces dist/tfjs/gradients.js (tsc's output of src/tfjs/gradients.ts) with an esbuild bundle
// of it, so that plain Node can load tfjs-core's extensionless gradient modules (see that file).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'src/tfjs/gradients.ts')],
  outfile: join(root, 'dist/tfjs/gradients.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  allowOverwrite: true,
  sourcemap: true, // replaces tsc's map of the unbundled module
  logLevel: 'warning',
});
