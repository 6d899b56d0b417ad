import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

// Tests run against package sources, so no build is needed for them (the CLI test spawns
// the built `roomfabric` binary). Each workspace package maps to its source entry point.
const src = (path: string) => fileURLToPath(new URL(`./packages/${path}`, import.meta.url));
const entries: Record<string, string> = {
  '@roomfabric/client': src('client/src/node.ts'),
};
for (const name of [
  'protocol',
  'bus',
  'membership',
  'channels',
  'fabric',
  'edge',
  'server',
  'testkit',
]) {
  entries[`@roomfabric/${name}`] = src(`${name}/src/index.ts`);
}

export default defineConfig({
  resolve: {
    alias: Object.entries(entries).map(([find, replacement]) => ({
      find: new RegExp(`^${find}$`),
      replacement,
    })),
  },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
