// Bundles the CLI into one file, dist/w2s.mjs, with esbuild (the repository's setup:
// ../../../esbuild.node.mjs): one file starts faster. The native addon stays external (it is
// loaded from @w2s/native at run time). With --tune, also the demo's design script,
// scripts/tune-demo.ts, as dist/tune-demo.mjs.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleProgram } from '../../../esbuild.node.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = [['src/main.ts', 'w2s.mjs']];
if (process.argv.includes('--tune')) entries.push(['scripts/tune-demo.ts', 'tune-demo.mjs']);
for (const [entry, out] of entries) await bundleProgram(join(root, entry), join(root, 'dist', out));
