// The test setup every package under packages/ shares (each package's vitest.config.ts re-exports it).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // tfjs-core's gradients are ES modules with extensionless imports: let Vite load them.
    server: { deps: { inline: [/@tensorflow\//] } },
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
