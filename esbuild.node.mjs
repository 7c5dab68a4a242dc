// How this repository bundles TypeScript for Node with esbuild, written once. Used by
// packages/cli/scripts/bundle.mjs (the w2s command), benchmarks/scripts/run.mjs (each benchmark)
// and packages/kernels/scripts/bundle-gradients.mjs (tfjs-core's gradients, for plain Node).
import { build } from 'esbuild';

/** One ES module for Node 20, its imports bundled in (ES module builds of dependencies preferred). */
export const NODE_MODULE = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  mainFields: ['module', 'main'],
  logLevel: 'warning',
};

/**
 * A program run by `node`: NODE_MODULE, with the native addon left external (loaded from
 * @w2s/native at run time, where its .node file is), and `require`, `__filename` and `__dirname`
 * defined at the top, for the CommonJS code bundled into an ES module that uses them (require() of
 * Node's built-ins; tfjs-backend-wasm's Emscripten glue reads __dirname).
 */
export const NODE_PROGRAM = {
  ...NODE_MODULE,
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
};

/** Bundles `entry` into `outfile` as a program run by `node` (NODE_PROGRAM). */
export function bundleProgram(entry, outfile) {
  return build({ ...NODE_PROGRAM, entryPoints: [entry], outfile });
}

/** Bundles `entry` into `outfile` as an ES module (NODE_MODULE), with further esbuild options. */
export function bundleModule(entry, outfile, options = {}) {
  return build({ ...NODE_MODULE, entryPoints: [entry], outfile, ...options });
}
