// Bundles the browser build: one ESM file with the protocol and msgpack inlined, no `ws`.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/index.ts'],
  outfile: 'dist/roomfabric-client.browser.js',
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  conditions: ['source'],
  legalComments: 'none',
});
