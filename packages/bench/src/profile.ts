import { readFileSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { probe } from './systems.js';

/** One line of a profile summary: a function and its share of the busy samples. */
export interface HotFunction {
  fn: string;
  /** Self time, % of non-idle samples. */
  selfPct: number;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

/**
 * The top `n` functions by self time of a V8 `.cpuprofile` (what `node --cpu-prof` writes),
 * as a share of the samples where the process was not idle.
 */
export function topFunctions(file: string, n = 12): HotFunction[] {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[] };
  const byFn = new Map<string, number>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    if (functionName === '(idle)' || hits === 0) continue;
    const where = url ? ` ${basename(url)}:${lineNumber + 1}` : '';
    const key = `${functionName || '(anonymous)'}${where}`;
    byFn.set(key, (byFn.get(key) ?? 0) + hits);
    busy += hits;
  }
  return [...byFn]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([fn, hits]) => ({ fn, selfPct: Math.round((hits / busy) * 1000) / 10 }));
}

/** Starts the CPU profiler in every probed process. */
export async function startProfiles(probes: string[]): Promise<void> {
  await Promise.all(probes.map((p) => probe(p, '/profile/start')));
}

/** Stops the profilers and writes `<dir>/<prefix>-<i>.cpuprofile`; returns the file names. */
export async function stopProfiles(
  probes: string[],
  dir: string,
  prefix: string,
): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const files = probes.map((_, i) => join(dir, `${prefix}-${i + 1}.cpuprofile`));
  await Promise.all(
    probes.map((p, i) => probe(p, `/profile/stop?file=${encodeURIComponent(files[i]!)}`)),
  );
  return files;
}
