/*
 * The edge's flags for its caps, budgets, trusted proxies, /stats and token rules: each
 * bad value is one usage line (exit 2) before anything connects.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './cli-process.js';

const base = [
  'edge',
  '--nats',
  'nats://127.0.0.1:1',
  '--redis',
  'redis://127.0.0.1:1',
  '--insecure',
];

describe('roomfabric edge: caps, budgets, proxies, stats', () => {
  it('refuses bad values with one line naming the flag, before connecting', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-edge-flags-'));
    const short = join(dir, 'short');
    writeFileSync(short, 'tooshort\n');
    const cases: Array<[string[], RegExp]> = [
      [['--trusted-proxies', '10.0.0.0/99'], /--trusted-proxies: .*10\.0\.0\.0\/99/],
      [['--trusted-proxies', 'lan'], /--trusted-proxies: .*"lan"/],
      [['--max-connections', '0'], /--max-connections must be an integer from 1/],
      [['--max-connections-per-user=-1'], /--max-connections-per-user must be an integer/],
      [['--max-frames-per-second-per-node', 'x'], /--max-frames-per-second-per-node must be/],
      [['--stats-token-file', short], /the token must be at least 16 characters/],
      [['--stats-token-file', join(dir, 'missing')], /--stats-token-file: cannot read/],
      [['--stats-public', '--stats-token-file', short], /not both/],
    ];
    for (const [flags, message] of cases) {
      const run = runCli([...base, ...flags]);
      expect(await run.exited, flags.join(' ')).toBe(2);
      expect(run.stderr()).toMatch(message);
      expect(run.stderr().trim().split('\n')).toHaveLength(1);
    }
  });
});
