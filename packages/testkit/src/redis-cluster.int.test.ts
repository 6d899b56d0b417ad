import { existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { liveChildCount } from './child-registry.js';
import { eventually } from './eventually.js';
import { REDIS_CLUSTER_SLOTS, startRedisCluster } from './start-redis-cluster.js';

/** Whether a process with this pid still exists. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const clusterDirs = () =>
  readdirSync(tmpdir()).filter((name) => name.startsWith('rf-testkit-redis-cluster-'));

/** Bounds asserted below (a 1000 ms node timeout usually fails over in ~2-3 s). */
const START_BOUND_MS = 10_000;
const FAILOVER_BOUND_MS = 8_000;
const REJOIN_BOUND_MS = 8_000;

describe('startRedisCluster', () => {
  it(
    'serves every slot, follows MOVED, fails a killed primary over to its replica and takes it back as a replica',
    { timeout: 30_000 },
    async () => {
      let pids: number[] = [];
      let dir = '';
      {
        const startedAt = performance.now();
        await using cluster = await startRedisCluster({ primaries: 3, replicas: 1 });
        const startMs = Math.round(performance.now() - startedAt);
        console.log(`[redis-cluster] 3 primaries + 3 replicas healthy in ${startMs} ms`);
        expect(startMs).toBeLessThan(START_BOUND_MS);
        dir = cluster.dir;
        expect(existsSync(dir)).toBe(true);

        expect(cluster.nodes.map((node) => node.name)).toEqual(
          [1, 2, 3, 4, 5, 6].map((i) => `redis-${i}`),
        );
        expect(new Set(cluster.urls).size).toBe(6);
        for (const url of cluster.urls) expect(url).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);

        // Every node: ok, every slot served; three ranges' worth of primaries, one replica each.
        for (const node of cluster.nodes) {
          const info = String(await node.command('CLUSTER', 'INFO'));
          expect(info).toContain('cluster_state:ok');
          expect(info).toContain(`cluster_slots_ok:${REDIS_CLUSTER_SLOTS}`);
        }
        const ranges = await cluster.slots();
        expect(ranges.reduce((sum, range) => sum + range.end - range.start + 1, 0)).toBe(
          REDIS_CLUSTER_SLOTS,
        );
        expect(await cluster.primaries()).toHaveLength(3);
        for (const range of ranges) expect(range.replicas).toHaveLength(1);
        const roles = await Promise.all(cluster.nodes.map((node) => node.role()));
        expect(roles.filter((role) => role === 'primary')).toHaveLength(3);

        // A key written through a node that does not serve it (redis-cli -c follows MOVED).
        const key = 'rf:cluster:key';
        const slot = await cluster.keySlot(key);
        const primary = await cluster.primaryForKey(key);
        const range = ranges.find((each) => each.start <= slot && slot <= each.end);
        const replica = range?.replicas[0];
        if (!replica) throw new Error(`no replica serves slot ${slot}`);
        const elsewhere = cluster.nodes.find((node) => node !== primary && node !== replica);
        if (!elsewhere) throw new Error('six nodes, yet none apart from a primary and its replica');
        await expect(elsewhere.command('GET', key)).rejects.toThrow(/MOVED/);
        expect(await elsewhere.cli('SET', key, 'hello')).toBe('OK');
        expect(await primary.command('GET', key)).toBe('hello');
        expect(await replica.cli('GET', key)).toBe('hello');
        // The write is on the replica before the primary dies. (Not WAIT: on a connection of
        // its own it waits for that connection's writes, none, and returned 1 at once while
        // the SET was still on its way; CI once lost it that way.)
        const offset = async (node: typeof primary, field: string) => {
          const info = String(await node.command('INFO', 'replication'));
          return Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
        };
        const written = await offset(primary, 'master_repl_offset');
        const replicated = await eventually(
          async () => (await offset(replica, 'slave_repl_offset')) >= written,
          { timeoutMs: 5000, everyMs: 20, soft: true },
        );
        if (replicated === undefined)
          throw new Error(`the replica never reached offset ${written}`);

        // kill -9 the primary of the slot: its replica takes over.
        const killedId = primary.id;
        const killedAt = performance.now();
        await primary.kill();
        expect(primary.running).toBe(false);
        const { primary: promoted } = await cluster.waitForFailover(primary, {
          timeoutMs: FAILOVER_BOUND_MS,
        });
        const failoverMs = Math.round(performance.now() - killedAt);
        console.log(
          `[redis-cluster] kill -9 of a primary -> cluster_state:ok again in ${failoverMs} ms`,
        );
        expect(failoverMs).toBeLessThan(FAILOVER_BOUND_MS);
        expect(promoted).toBe(replica);
        expect(await promoted.role()).toBe('primary');
        expect(await cluster.primaryForSlot(slot)).toBe(promoted);
        // The promoted replica holds the write (WAIT said it had it) and serves it; a node
        // that learns the new owner a moment later redirects to it.
        expect(await promoted.command('GET', key)).toBe('hello');
        const redirected = await eventually(
          async () => (await elsewhere.cli('GET', key)) === 'hello',
          {
            timeoutMs: 5000,
            everyMs: 100,
            soft: true,
          },
        );
        if (redirected === undefined) {
          throw new Error(
            `${elsewhere.port} does not redirect GET ${key} to the new primary; logs:\n${cluster.output()}`,
          );
        }

        // Restarted on its port and config file, it rejoins as itself, a replica of the new primary.
        const restartedAt = performance.now();
        await primary.restart();
        await cluster.waitHealthy({ timeoutMs: REJOIN_BOUND_MS });
        const rejoinMs = Math.round(performance.now() - restartedAt);
        console.log(`[redis-cluster] restarted node rejoined as a replica in ${rejoinMs} ms`);
        expect(primary.id).toBe(killedId);
        expect(await primary.role()).toBe('replica');
        const role = await primary.command('ROLE');
        expect(Array.isArray(role) && Number(role[2])).toBe(promoted.port);
        expect((await cluster.slots()).find((each) => each.primary === promoted)?.replicas).toEqual(
          [primary],
        );

        pids = cluster.nodes.map((node) => node.pid as number);
        expect(pids.every(alive)).toBe(true);
      }
      // Disposed: no process, no temp dir.
      expect(pids).toHaveLength(6);
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(dir)).toBe(false);
    },
  );

  it('kills what it started and removes its temp dir when a start fails', async () => {
    const dirsBefore = clusterDirs();
    const children = liveChildCount();
    // A node that cannot start.
    await expect(startRedisCluster({ args: ['--no-such-option', 'x'] })).rejects.toThrow(
      /^redis-\d exited before it was ready/,
    );
    expect(liveChildCount()).toBe(children);
    expect(clusterDirs()).toEqual(dirsBefore);
    // Every node up and the cluster created, but the replicas never sync (a 30 s delay).
    const startedAt = performance.now();
    const failure = startRedisCluster({
      replicas: 1,
      timeoutMs: 3_000,
      args: ['--repl-diskless-sync-delay', '30'],
    });
    await expect(failure).rejects.toThrow(
      /^timed out waiting for a healthy redis cluster \(\d+ ms\); missing: redis-\d: replica link to :\d+ is \w+.*; logs:\n--- redis-1/,
    );
    expect(performance.now() - startedAt).toBeLessThan(5_000);
    expect(liveChildCount()).toBe(children);
    expect(clusterDirs()).toEqual(dirsBefore);
    await expect(startRedisCluster({ primaries: 2 })).rejects.toThrow(
      /primaries must be an integer >= 3/,
    );
  });
});
