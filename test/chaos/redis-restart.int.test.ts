/*
 * Chaos: Redis is restarted EMPTY (the whole index is gone), with traffic flowing and
 * clients joining a room right after Redis comes back.
 *
 * Promised, and asserted:
 * - the edges rebuild the index from their own truth within 5 s of Redis being back
 *   (each re-asserts on its next lease renewal): every socket on its node, in exactly its
 *   rooms, every room with exactly its members;
 * - no member lost: neither those from before the restart, nor a client that joins while
 *   the index is being rebuilt (a join the fabric cannot take then must be refused with a
 *   temporary code, `docs/errors.md`, and succeed when retried);
 * - broadcasts never depend on Redis: every member gets every message, none twice.
 */
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import {
  chaosEdgeArgs,
  figures,
  MEMBERSHIP_ARGS,
  sleep,
  TEMPORARY_CODES,
} from '../support/chaos-fabric.js';
import { indexDiff } from '../support/chaos-index.js';
import {
  chaosBackends,
  duplicates,
  SwarmReceiver,
  waitDelivered,
} from '../support/chaos-traffic.js';
import { openSwarm, type SwarmClient } from '../support/swarm.js';

const CLIENTS = 45;
const LATE = 9;
const ROOMS_BEFORE = ['lobby', 'g0', 'g1', 'g2'];
const ROOMS = [...ROOMS_BEFORE, 'late'];
const REBUILD_BOUND_MS = 5000;
const JOIN_ATTEMPTS = 30;

/** Joins `room`, retrying (every 100 ms, bounded) while the refusal is temporary. */
async function joinRetrying(
  c: SwarmClient,
  room: string,
): Promise<{ ok: boolean; codes: string[] }> {
  const codes: string[] = [];
  for (let attempt = 0; attempt < JOIN_ATTEMPTS; attempt++) {
    try {
      await c.join(room);
      return { ok: true, codes };
    } catch (err) {
      const code = (err as Error).message.split(':')[0]!;
      codes.push(code);
      if (!TEMPORARY_CODES.has(code)) return { ok: false, codes };
      await sleep(100);
    }
  }
  return { ok: false, codes };
}

describe('chaos: Redis restarted empty', () => {
  it('the index is rebuilt from the edges within 5 s; no member lost; delivery unaffected', async () => {
    await using cluster = await startCluster({
      edges: 3,
      edgeArgs: chaosEdgeArgs(),
      membershipArgs: MEMBERSHIP_ARGS,
    });
    const backends = await chaosBackends(cluster, ROOMS);
    const { server, traffic } = backends;
    const swarm = await openSwarm(
      cluster.edges.map((e) => e.url),
      CLIENTS,
    );
    const receivers = swarm.map((c, i) => new SwarmReceiver(c, ['lobby', `g${i % 3}`]));
    try {
      await Promise.all(swarm.flatMap((c, i) => [c.join('lobby'), c.join(`g${i % 3}`)]));
      traffic.start();
      const before = await waitDelivered(receivers, traffic, 5000);
      expect(before.missing, before.worst).toBe(0);
      const reassertsBefore = await Promise.all(
        cluster.edges.map(async (e) => (await e.stats()).leaseReasserts as number),
      );

      const killedAt = performance.now();
      await cluster.redis.restart();
      const backAt = performance.now();
      // Clients join while the index is empty and being rebuilt (3 per edge).
      const late = swarm.slice(0, LATE);
      const outcomes = await Promise.all(
        late.map(async (c, i) => {
          const outcome = await joinRetrying(c, 'late');
          // Acknowledged: every later broadcast to the room is owed to it.
          if (outcome.ok) receivers[i]!.expect('late', traffic.issued('late'));
          return outcome;
        }),
      );
      const truth = () =>
        receivers.map((r) => ({
          id: r.client.socketId,
          nodeId: r.client.nodeId,
          rooms: r.rooms(),
        }));
      // The members from before the restart, then everything including the late room.
      const rebuilt = await eventually(
        async () => (await indexDiff(server, truth(), ROOMS_BEFORE)).length === 0,
        { timeoutMs: REBUILD_BOUND_MS + 2000, everyMs: 50, soft: true },
      );
      const rebuiltMs = rebuilt === undefined ? undefined : Math.round(performance.now() - backAt);
      const rebuiltDiff = await indexDiff(server, truth(), ROOMS_BEFORE);
      await eventually(async () => (await indexDiff(server, truth(), ROOMS)).length === 0, {
        timeoutMs: 2000,
        everyMs: 50,
        soft: true,
      });
      const diff = await indexDiff(server, truth(), ROOMS);
      const reassertsAfter = await Promise.all(
        cluster.edges.map(async (e) => (await e.stats()).leaseReasserts as number),
      );
      const after = await waitDelivered(receivers, traffic, 5000);
      await traffic.stop();
      const final = await waitDelivered(receivers, traffic, 5000);
      const refusedCodes = [...new Set(outcomes.flatMap((o) => o.codes))];
      figures('Redis restarted empty', {
        sockets: CLIENTS,
        'redis down ms': Math.round(backAt - killedAt),
        'redis back->index rebuilt ms': rebuiltMs ?? `>${REBUILD_BOUND_MS + 2000}`,
        reasserts: reassertsAfter.map((n, i) => n - reassertsBefore[i]!),
        lateJoins: `${outcomes.filter((o) => o.ok).length}/${LATE} joined, refusals seen: ${refusedCodes.join(',') || 'none'}`,
        'messages lost': final.missing,
        'index vs truth': diff,
        duplicates: duplicates(receivers),
        published: traffic.published,
      });
      expect(rebuiltDiff, 'index vs truth, members from before the restart').toEqual([]);
      expect(rebuiltMs, 'Redis back -> index rebuilt, ms').toBeLessThanOrEqual(REBUILD_BOUND_MS);
      expect(
        outcomes.map((o) => (o.ok ? 'joined' : `refused for good: ${o.codes.join(',')}`)),
        'joins while the index is rebuilt',
      ).toEqual(late.map(() => 'joined'));
      expect(diff, 'index vs truth, with the late joins').toEqual([]);
      reassertsAfter.forEach((n, i) => expect(n).toBeGreaterThan(reassertsBefore[i]!));
      expect(after.missing, after.worst).toBe(0);
      expect(final.missing, final.worst).toBe(0);
      expect(duplicates(receivers)).toBe(0);
      expect(traffic.failures).toBe(0);
    } finally {
      for (const c of swarm) c.close();
      await backends.close();
    }
  }, 60_000);
});
