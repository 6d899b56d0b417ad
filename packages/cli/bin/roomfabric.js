#!/usr/bin/env node
// The `roomfabric` command as npm links it. This file is committed so that `npm ci` can
// link it on a fresh clone (npm links a bin only if its file exists at install time);
// the command itself is the build output dist/bin.js, loaded from here.
/* global process, URL */
import { existsSync } from 'node:fs';

const built = new URL('../dist/bin.js', import.meta.url);
if (!existsSync(built)) {
  process.stderr.write(
    'roomfabric: the CLI is not built (packages/cli/dist/bin.js is missing): run `npm run build` first\n',
  );
  process.exit(1);
}
await import(built.href);
