import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

/*
 * Smoke run of every benchmark scenario with small sizes, through the built CLI (`npm test`
 * builds first): each must run to the end and deliver exactly what it had to. No timing
 * threshold: timings on a CI machine say nothing.
 */

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../packages/bench/dist/cli.js', import.meta.url));

interface Result {
  scenario: string;
  params: Record<string, unknown>;
  ours: Record<string, unknown>;
  checks: Array<{ what: string; delivered: number; expected: number; ok: boolean }>;
  goals: Array<{ goal: string; met: boolean }>;
}

async function bench(args: string[]): Promise<Result> {
  const { stdout } = await run(process.execPath, [cli, ...args, '--json', '--load-procs', '1'], {
    timeout: 40_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Result;
}

function expectCounts(result: Result, count: number): void {
  expect(result.checks.length).toBe(count);
  for (const c of result.checks)
    expect(c, c.what).toMatchObject({ delivered: c.expected, ok: true });
}

describe('benchmarks, small', { timeout: 45_000 }, () => {
  beforeAll(() => {
    if (!existsSync(cli)) throw new Error(`${cli} is missing: run \`npm run build\` first`);
  });

  it('fanout: every client gets every message, ours, socket.io and the ceiling', async () => {
    const result = await bench([
      'fanout',
      ...[
        '--clients',
        '40',
        '--burst',
        '5',
        '--window',
        '2',
        '--duration',
        '0.3',
        '--warmup',
        '0.1',
      ],
    ]);
    expect(result.scenario).toBe('fanout');
    expectCounts(result, 3);
  });

  it('bus: node deliveries per broadcast equal the nodes with members', async () => {
    const result = await bench(['bus', '--rooms', '30']);
    expectCounts(result, 4);
  });

  it('raid: every mover is moved, told, and gets the next message', async () => {
    const result = await bench(['raid', '--clients', '60']);
    expectCounts(result, 4);
  });

  it('joins: every join is acked', async () => {
    const result = await bench(['joins', '--clients', '20', '--per-client', '10']);
    expectCounts(result, 2);
  });

  it('joins into shared rooms over 2 nodes: every join is acked, per node figures', async () => {
    const result = await bench([
      'joins',
      ...['--clients', '20', '--per-client', '10', '--join-rooms', '30', '--nodes', '2'],
    ]);
    expectCounts(result, 2);
    expect(result.params.sharedRooms).toBe(30);
    expect(result.ours.nodes).toBe(2);
    const ours = result.ours as { ackedPerSec: number; ackedPerSecPerNode: number };
    // Both rounded from the same unrounded rate.
    expect(Math.abs(ours.ackedPerSecPerNode - ours.ackedPerSec / 2)).toBeLessThanOrEqual(1);
  });

  it('joins on a 3-primary Redis Cluster: every join is acked; each primary has a share', async () => {
    const result = await bench([
      'joins',
      ...['--redis-cluster', '3', '--clients', '20', '--per-client', '10'],
    ]);
    expectCounts(result, 2);
    expect(result.params.redisCluster).toBe(3);
    const shares = result.ours.redisShares as Array<{
      slots: string;
      commands: number;
      pct: number;
    }>;
    // redis-cli --cluster create splits the slots evenly over 3 primaries.
    expect(shares.map((s) => s.slots)).toEqual(['0-5460', '5461-10922', '10923-16383']);
    // 200 new rooms spread over every slot: each primary ran some of the joins' commands.
    for (const share of shares) expect(share.commands).toBeGreaterThan(0);
    const total = shares.reduce((n, s) => n + s.commands, 0);
    for (const share of shares)
      expect(share.pct).toBe(Math.round((share.commands / total) * 1000) / 10);
    expect(result.goals.map((g) => g.goal)).toContain(
      "each primary 20-45% of the index's Redis commands",
    );
  });

  it('memory: every idle connection is held', async () => {
    const result = await bench(['memory', '--clients', '50']);
    expectCounts(result, 3);
  });

  it("streams: every player's last position reaches a member, naive and batched", async () => {
    const result = await bench(['streams', '--clients', '10', '--duration', '0.5']);
    expectCounts(result, 2);
  });

  it('recovery: every dropped client gets every missed message, ours and socket.io', async () => {
    const result = await bench(['recovery', '--clients', '10', '--messages', '50']);
    expectCounts(result, 2);
  });

  it('storm: the clients of a killed node rejoin elsewhere and receive; the index is exact again', async () => {
    // A short lease, so that the dead node's sockets are purged within ~1 s.
    const result = await bench([
      'storm',
      ...['--clients', '300', '--rooms', '30', '--lease-ttl-ms', '1000', '--warmup', '0.3'],
    ]);
    expect(result.scenario).toBe('storm');
    expectCounts(result, 15);
  });
});
