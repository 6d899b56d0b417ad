import { createServer } from '@roomfabric/server';
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { inBatches, openSwarm } from '../support/swarm.js';

const MOVERS = Number(process.env.RF_RAID_MEMBERS ?? 10_000);

describe('raid across 3 edge processes', () => {
  it(`moves ${MOVERS} members atomically and gap-free while both rooms get traffic`, async () => {
    await using cluster = await startCluster({ edges: 3, edgeArgs: ['--policy', 'open'] });
    const server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
    const publisher = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
    const urls = cluster.edges.map((e) => e.url);
    const t0 = performance.now();
    const movers = await openSwarm(urls, MOVERS);
    await inBatches(movers, 500, (c) => c.join('from'));
    const stayers = await openSwarm(urls, 30);
    await Promise.all(stayers.map((c) => c.join('to')));
    console.log(
      `raid: ${MOVERS} members connected and joined in ${Math.round(performance.now() - t0)} ms`,
    );
    expect(await server.count('from')).toBe(MOVERS);
    try {
      // Traffic to both rooms for the whole raid, from another connection.
      let running = true;
      let seqFrom = 0;
      let seqTo = 0;
      const traffic = (async () => {
        while (running) {
          await publisher.to('from').emit('f', seqFrom++);
          await publisher.to('to').emit('t', seqTo++);
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      // A concurrent reader must never see the rooms split.
      const seen = new Set<string>();
      let reading = true;
      const reader = (async () => {
        while (reading) {
          const from = await server.count('from');
          const to = await server.count('to');
          seen.add(
            `${from === 0 || from === MOVERS ? 'whole' : `split:${from}`}/${to === 30 || to === MOVERS + 30 ? 'whole' : `split:${to}`}`,
          );
        }
      })();
      await new Promise((r) => setTimeout(r, 200));
      const report = await server.raid('from', 'to');
      const resolvedAt = performance.now();
      const toSeqAtResolve = seqTo;
      await eventually(() => movers.every((c) => c.log.some((e) => e.kind === 'moved')), {
        timeoutMs: 20_000,
        what: 'every mover notified',
      });
      const notifiedMs = Math.round(performance.now() - resolvedAt);
      await new Promise((r) => setTimeout(r, 300));
      running = false;
      await traffic;
      reading = false;
      await reader;
      const lastTo = seqTo - 1;
      await eventually(
        () =>
          movers.every((c) =>
            c.log.some((e) => e.kind === 'event' && e.event === 't' && e.data === lastTo),
          ),
        { timeoutMs: 10_000, what: 'last to-message' },
      );
      console.log(
        `raid of ${report.moved} over ${report.nodes} nodes: index commit ${report.commitMs} ms, raid call ${report.totalMs} ms, ` +
          `every mover notified ${notifiedMs} ms after the call resolved; reader states seen: ${[...seen].join(' ')}`,
      );
      expect(report.moved).toBe(MOVERS);
      expect([...seen].every((s) => s === 'whole/whole')).toBe(true);
      expect(await server.count('from')).toBe(0);
      expect(await server.count('to')).toBe(MOVERS + 30);
      let violations = 0;
      for (const c of movers) {
        const movedAt = c.log.findIndex((e) => e.kind === 'moved');
        const moves = c.log.filter((e) => e.kind === 'moved');
        const fromAfter = c.log
          .slice(movedAt + 1)
          .filter((e) => e.kind === 'event' && e.event === 'f');
        const toBefore = c.log
          .slice(0, movedAt)
          .filter((e) => e.kind === 'event' && e.event === 't');
        const toSeqs = new Set(
          c.log
            .filter((e) => e.kind === 'event' && e.event === 't')
            .map((e) => (e as { data: number }).data),
        );
        let missing = 0;
        for (let s = toSeqAtResolve; s <= lastTo; s++) if (!toSeqs.has(s)) missing++;
        if (moves.length !== 1 || fromAfter.length > 0 || toBefore.length > 0 || missing > 0)
          violations++;
      }
      expect(violations).toBe(0);
      // Retrying the same raid moves nothing twice.
      const again = await server.raid('from', 'to', { raidId: report.raidId });
      expect(again).toMatchObject({ repeated: true, moved: MOVERS });
      await new Promise((r) => setTimeout(r, 300));
      expect(movers.every((c) => c.log.filter((e) => e.kind === 'moved').length === 1)).toBe(true);
    } finally {
      for (const c of [...movers, ...stayers]) c.close();
      await server.close();
      await publisher.close();
    }
  }, 120_000);
});
