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
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Lanes, by file name (docs/architecture.md, "Tests, by lane"). `npm test` runs them all.
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          // One module graph per worker for all its files: imports once, not 66 times
          // (38 s of imports -> 2 s here). Unit tests hold no process-wide state between files.
          isolate: false,
          include: ['packages/*/src/**/*.test.ts', 'test/**/*.test.ts'],
          exclude: ['**/*.int.test.ts', '**/*.e2e.test.ts', 'test/chaos/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['packages/*/src/**/*.int.test.ts', 'test/**/*.int.test.ts'],
          exclude: ['test/chaos/**'],
        },
      },
      { extends: true, test: { name: 'chaos', include: ['test/chaos/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['packages/*/src/**/*.e2e.test.ts', 'test/**/*.e2e.test.ts'],
        },
      },
    ],
  },
});
