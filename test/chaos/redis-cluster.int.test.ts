/*
 * Chaos: the index on a Redis Cluster (3 primaries, 1 replica each) under join/leave churn
 * and broadcasts, 2 edges, one membership service.
 *
 * 1. The primary that holds the most rooms is killed (kill -9): its replica is promoted,
 *    joins succeed again within a measured bound, broadcasts keep reaching the members
 *    that stay in their rooms, and once the churn stops the index is exact: every room's
 *    `count` equals the members the clients hold, `totals().sockets` the connected
 *    clients, no ghost (docs/redis-keys.md, "A failover that lost recent writes", says
 *    what can stay wrong: this test reports it, it does not hide it).
 * 2. Every node is killed and restarted empty: the edges re-assert and the index is
 *    rebuilt from them.
 */
import { RedisMembership } from '@roomfabric/membership';
import { createServer } from '@roomfabric/server';
import {
  eventually,
  startEdge,
  startMembership,
  startNats,
  startRedisCluster,
} from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { openChaosClients, type ChaosClient } from '../support/chaos-clients.js';
import { chaosEdgeArgs, figures, MEMBERSHIP_ARGS, sleep } from '../support/chaos-fabric.js';
import { TICK, Traffic, waitDelivered } from '../support/chaos-traffic.js';

const ROOMS = Array.from({ length: 100 }, (_, i) => `r${i}`);
const LISTENERS = 20;
const CHURNERS = 180;
const JOINS_RESUMED_BOUND_MS = 20_000;
const EXACT_BOUND_MS = 10_000;
const REBUILD_BOUND_MS = 15_000;

interface Op {
  start: number;
  end: number;
  ok: boolean;
  code?: string;
  /** `join r5 <socket>` or `leave r5 <socket>`. */
  what?: string;
}

describe('chaos: Redis Cluster primary killed, then the whole cluster restarted empty', () => {
  it('failover under churn; index exact after; rebuilt after an empty restart', async () => {
    await using redis = await startRedisCluster({ primaries: 3, replicas: 1 });
    await using nats = await startNats();
    const redisUrl = `redis-cluster://${redis.urls.map((u) => new URL(u).host).join(',')}`;
    await using membership = await startMembership({
      nats: nats.url,
      redis: redisUrl,
      args: MEMBERSHIP_ARGS,
    });
    await using edgeA = await startEdge({
      nats: nats.url,
      redis: redisUrl,
      nodeId: 'edge-a',
      args: chaosEdgeArgs(),
    });
    await using edgeB = await startEdge({
      nats: nats.url,
      redis: redisUrl,
      nodeId: 'edge-b',
      args: chaosEdgeArgs(),
    });
    void membership;
    const index = new RedisMembership({ url: redisUrl });
    const publisher = await createServer({ nats: nats.url, redis: redisUrl });
    const traffic = new Traffic(publisher, ROOMS, 20);
    const urls = [edgeA.url, edgeB.url];
    let clients: ChaosClient[] = [];
    let churning = false;
    const ops: Op[] = [];
    let churn: Promise<void> = Promise.resolve();
    try {
      const listeners = await openChaosClients(urls, LISTENERS, traffic, 'l');
      const churners = await openChaosClients(urls, CHURNERS, traffic, 'c');
      clients = [...listeners, ...churners];
      // Broadcast arrival gaps of the listeners, which stay in their rooms throughout.
      const lastAt = new Map<string, number>();
      let maxGap = { ms: 0, at: 0, what: '' };
      listeners.forEach((l) =>
        l.client.on(TICK, (_seq: unknown, meta: { room: string | null }) => {
          const key = `${l.label}/${meta.room}`;
          const now = performance.now();
          const prev = lastAt.get(key);
          if (prev !== undefined && now - prev > maxGap.ms)
            maxGap = { ms: now - prev, at: prev, what: key };
          lastAt.set(key, now);
        }),
      );
      // Listener i holds 5 rooms: together every room has a listener.
      await Promise.all(
        listeners.flatMap((l, i) =>
          [0, 1, 2, 3, 4].map((k) => l.join(ROOMS[(i * 5 + k) % ROOMS.length]!)),
        ),
      );
      traffic.start();

      // Rooms per primary: kill the primary that holds the most.
      const owners = await Promise.all(ROOMS.map((r) => redis.primaryForKey(`rf:{r:${r}}:m`)));
      const perPrimary = new Map<string, number>();
      for (const o of owners) perPrimary.set(o.id, (perPrimary.get(o.id) ?? 0) + 1);
      const victimId = [...perPrimary].sort((a, b) => b[1] - a[1])[0]![0];
      const victim = owners.find((o) => o.id === victimId)!;

      const churnOne = async (c: ChaosClient, seed: number) => {
        let n = seed;
        while (churning) {
          n = (n * 1103515245 + 12345) % 2147483648;
          const room = ROOMS[(n >>> 16) % ROOMS.length]!;
          const inRoom = c.client.rooms.has(room);
          const start = performance.now();
          const target = inRoom || c.client.rooms.size < 3 ? room : [...c.client.rooms][0]!;
          const what = `${!inRoom && c.client.rooms.size < 3 ? 'join' : 'leave'} ${target} ${c.client.id}`;
          try {
            if (what.startsWith('leave')) await c.client.leave(target);
            else await c.join(target);
            if (!inRoom) ops.push({ start, end: performance.now(), ok: true });
          } catch (err) {
            const code = (err as { code?: string }).code ?? (err as Error).message;
            ops.push({ start, end: performance.now(), ok: false, code, what });
          }
          await sleep(50 + (n % 100));
        }
      };
      churning = true;
      churn = Promise.all(churners.map((c, i) => churnOne(c, i + 1))).then(() => undefined);
      await sleep(2000);

      const reasserts = async () =>
        Promise.all([edgeA, edgeB].map(async (e) => (await e.stats()).leaseReasserts as number));
      const reassertsBefore = await reasserts();
      const killedAt = performance.now();
      await victim.kill('SIGKILL');
      await redis.waitForFailover(victim, { timeoutMs: 20_000 });
      const failoverMs = performance.now() - killedAt;
      // Keep churning until joins work again (a join is "stuck" if it failed or took > 1 s).
      await sleep(3000);
      const resumed = await eventually(
        () => {
          const now = performance.now();
          const stuck = ops.filter(
            (o) => o.start >= killedAt - 5000 && (!o.ok || o.end - o.start > 1000),
          );
          const lastStuck = Math.max(killedAt, ...stuck.map((o) => o.end));
          return now - lastStuck > 2000 && ops.some((o) => o.ok && o.start > lastStuck);
        },
        { timeoutMs: JOINS_RESUMED_BOUND_MS + 5000, everyMs: 100, soft: true },
      );
      const stuckOps = ops.filter((o) => o.start >= killedAt - 5000 && !o.ok);
      const resumedMs =
        resumed === undefined
          ? undefined
          : Math.round(
              Math.max(
                killedAt,
                ...ops.filter((o) => !o.ok || o.end - o.start > 1000).map((o) => o.end),
              ) - killedAt,
            );
      churning = false;
      await churn;
      const delivered = await waitDelivered(listeners, traffic, 5000);
      const gapMs = Math.round(maxGap.ms);
      const gapAfterKillMs = Math.round(maxGap.at - killedAt);

      // The index becomes exact.
      const connected = () => clients.filter((c) => c.client.state === 'connected');
      const diffs = async (limit = 10): Promise<string[]> => {
        const out: string[] = [];
        const live = connected();
        const liveIds = new Set(live.map((c) => c.client.id!));
        const totals = await index.totals();
        if (totals.sockets !== live.length)
          out.push(`totals.sockets ${totals.sockets}, connected ${live.length}`);
        await Promise.all(
          ROOMS.map(async (room) => {
            const want = live.filter((c) => c.client.rooms.has(room)).map((c) => c.client.id!);
            const count = await index.count(room);
            if (count !== want.length) out.push(`${room}: count ${count}, truth ${want.length}`);
            const members = (await index.members(room)).map((m) => m.socketId);
            for (const id of members)
              if (!liveIds.has(id)) out.push(`${room}: ghost ${id} (socket not connected)`);
              else if (!want.includes(id)) {
                const failed = ops
                  .filter((o) => !o.ok && o.what?.endsWith(` ${room} ${id}`))
                  .map(
                    (o) =>
                      `${o.what!.split(' ')[0]} failed ${Math.round(o.start - killedAt)} ms after the kill`,
                  );
                out.push(
                  `${room}${owners[ROOMS.indexOf(room)]!.id === victimId ? ' (killed shard)' : ''}: ghost ${id} (not in the room; ${failed.join(', ') || 'no failed op'})`,
                );
              }
            for (const id of want) if (!members.includes(id)) out.push(`${room}: miss ${id}`);
          }),
        );
        return out.slice(0, limit);
      };
      const stoppedAt = performance.now();
      const exact = await eventually(async () => (await diffs()).length === 0, {
        timeoutMs: EXACT_BOUND_MS,
        everyMs: 200,
        soft: true,
      });
      const exactMs = exact === undefined ? undefined : Math.round(performance.now() - stoppedAt);
      const afterFailover = await diffs(50);
      figures('Redis Cluster primary killed', {
        clients: clients.length,
        'rooms per primary': Object.fromEntries(perPrimary),
        victim: victimId,
        'failover ms': Math.round(failoverMs),
        'joins resumed ms': resumedMs ?? `>${JOINS_RESUMED_BOUND_MS}`,
        'joins failed': `${stuckOps.length}/${ops.length} (${[...new Set(stuckOps.map((o) => o.code))].join(',')})`,
        'max broadcast gap ms': `${gapMs} (${maxGap.what}, ${gapAfterKillMs} ms after the kill)`,
        'messages missing': delivered.missing,
        'edge re-asserts before/after': `${reassertsBefore.join(',')} / ${(await reasserts()).join(',')}`,
        'index exact ms': exactMs ?? `>${EXACT_BOUND_MS}`,
        'index vs truth': afterFailover,
      });
      expect(resumedMs, 'kill -> joins succeed again, ms').toBeLessThanOrEqual(
        JOINS_RESUMED_BOUND_MS,
      );
      expect(delivered.missing, delivered.worst).toBe(0);
      expect(connected().length, 'clients connected').toBe(clients.length);
      // Soft, so that part 2 runs and reports too; the test still fails on them.
      if (afterFailover.length > 0) {
        for (const e of [edgeA, edgeB])
          console.log(
            `[chaos] ${e.name} output after the failover (tail):\n${e.output().split('\n').slice(-40).join('\n')}`,
          );
      }
      expect.soft(afterFailover, 'index vs truth after the failover').toEqual([]);
      expect.soft(exactMs).toBeLessThanOrEqual(EXACT_BOUND_MS);

      // 2. The whole cluster restarted empty.
      const downAt = performance.now();
      await Promise.all(redis.nodes.map((n) => n.kill('SIGKILL')));
      await Promise.all(redis.nodes.map((n) => n.restart()));
      await redis.waitHealthy({ timeoutMs: 20_000 });
      const healthyAt = performance.now();
      const rebuilt = await eventually(async () => (await diffs()).length === 0, {
        timeoutMs: REBUILD_BOUND_MS,
        everyMs: 200,
        soft: true,
      });
      const rebuildMs =
        rebuilt === undefined ? undefined : Math.round(performance.now() - healthyAt);
      const afterRestart = await diffs(50);
      const deliveredAfter = await waitDelivered(listeners, traffic, 5000);
      figures('Redis Cluster restarted empty', {
        'down->healthy ms': Math.round(healthyAt - downAt),
        'healthy->index rebuilt ms': rebuildMs ?? `>${REBUILD_BOUND_MS}`,
        'index vs truth': afterRestart,
        'messages missing': deliveredAfter.missing,
        'edge re-asserts': (await reasserts()).join(','),
      });
      if (afterRestart.length > 0) {
        for (const e of [edgeA, edgeB])
          console.log(
            `[chaos] ${e.name} output (tail):\n${e.output().split('\n').slice(-40).join('\n')}`,
          );
      }
      expect(afterRestart, 'index vs truth after the empty restart').toEqual([]);
      expect(rebuildMs).toBeLessThanOrEqual(REBUILD_BOUND_MS);
    } finally {
      churning = false;
      await churn;
      await traffic.stop();
      for (const c of clients) c.client.close();
      await publisher.close();
      await index.close();
    }
  }, 120_000);
});
