#!/usr/bin/env node
// The w2s command: runs the bundled CLI (built by `npm run build`).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const bundle = fileURLToPath(new URL('../dist/w2s.mjs', import.meta.url));
if (!existsSync(bundle)) {
  process.stderr.write('w2s: the CLI is not built yet; run `npm run build` at the repository root\n');
  process.exit(1);
}
await import(bundle);
