import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  link?: boolean;
  resolved?: string;
}

const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
  packages: Record<string, LockEntry>;
};

/** The packages a production install of `name` brings in (its dependencies, transitively). */
function productionClosure(name: string): Set<string> {
  const seen = new Set<string>();
  const entry = (pkg: string): LockEntry | undefined => {
    const e = lock.packages[`node_modules/${pkg}`];
    return e?.link && e.resolved ? lock.packages[e.resolved] : e;
  };
  const walk = (pkg: string) => {
    if (seen.has(pkg)) return;
    seen.add(pkg);
    const e = entry(pkg);
    for (const dep of Object.keys({ ...e?.dependencies, ...e?.optionalDependencies })) walk(dep);
  };
  walk(name);
  return seen;
}

describe('package dependencies', () => {
  it('a production install of the CLI does not pull testcontainers (or dockerode)', () => {
    const closure = productionClosure('@roomfabric/cli');
    expect(closure.has('@roomfabric/testkit')).toBe(true);
    expect(closure.has('testcontainers')).toBe(false);
    expect(closure.has('dockerode')).toBe(false);
  });

  it('the edge does not depend on the backend API', () => {
    const closure = productionClosure('@roomfabric/edge');
    expect(closure.has('@roomfabric/server')).toBe(false);
    expect(closure.has('@roomfabric/fabric')).toBe(true);
  });
});
