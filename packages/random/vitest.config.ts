// One test setup for every package: ../../vitest.packages.ts.
export { default } from '../../vitest.packages.ts';
