/*
 * `npm ci` on the oldest Node that package.json's `engines` admits prints no EBADENGINE
 * warning: every package in the lockfile that declares `engines.node` accepts it.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './cli-process.js';

// semver comes with npm's own dependency tree (eslint, typescript-eslint, ...).
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
}

const root = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
  engines: { node: string };
};
const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

describe('engines', () => {
  it('every locked package accepts the oldest Node we declare, and the one running', () => {
    const oldest = semver.minVersion(root.engines.node)!.version;
    const refused: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node;
      if (!path || range === undefined) continue;
      for (const node of [oldest, process.versions.node]) {
        if (!semver.satisfies(node, range)) {
          refused.push(`${path}@${entry.version}: node ${range} (not ${node})`);
        }
      }
    }
    expect(refused).toEqual([]);
  });
});
