// Replaces dist/tfjs/gradients.js (tsc's output of src/tfjs/gradients.ts) with an esbuild bundle
// of it (the repository's setup: ../../../esbuild.node.mjs), so that plain Node can load
// tfjs-core's extensionless gradient modules (see that file).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleModule } from '../../../esbuild.node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await bundleModule(join(root, 'src/tfjs/gradients.ts'), join(root, 'dist/tfjs/gradients.js'), {
  allowOverwrite: true,
  sourcemap: true, // replaces tsc's map of the unbundled module
});
