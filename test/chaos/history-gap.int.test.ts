/*
 * Chaos: the NATS server cuts an edge off as a slow consumer while a history room gets
 * traffic. Core NATS delivers at most once, so what was stored while the edge was off the
 * bus never reaches it live. Promised, and asserted: the edge notices (at its bus
 * reconnect, and at the next entry's previous offset), reads the missing entries from
 * JetStream and delivers them in order before the live ones; every client ends with every
 * message once, in order, without reconnecting.
 */
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { createServer } from '@roomfabric/server';
import { startEdge, startNats, startRedis, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { figures, sleep } from '../support/chaos-fabric.js';

const ROOM = 'gap:live';
const CLIENTS = 3;
const BEFORE = 20;
/** Sent while the edge is frozen: 400 x 20 KiB, well past the server's 256 KiB bound. */
const DURING = 400;
const AFTER = 20;
const PAD = 'x'.repeat(20 * 1024);

interface Watched {
  client: RoomfabricClient;
  got: number[];
  connects: number;
}

describe('chaos: a gap in the live stream of a history room', () => {
  it(
    'is filled by the edge from JetStream: every client gets every message once, in order',
    { timeout: 60_000 },
    async () => {
      // A small per-connection bound and write deadline: a frozen subscriber is cut off soon.
      const conf = join(tmpdir(), `rf-gap-${process.pid}-${Date.now()}.conf`);
      await writeFile(conf, 'max_payload: 262144\nmax_pending: 1048576\nwrite_deadline: "500ms"\n');
      await using nats = await startNats({ jetstream: true, args: ['-c', conf] });
      await using redis = await startRedis();
      const history = ['--history', 'gap:*', '--history-max-messages', '5000'];
      await using edge = await startEdge({
        nats: nats.url,
        redis: redis.url,
        nodeId: 'g1',
        args: ['--policy', 'open', ...history],
      });
      const server = await createServer({
        nats: nats.url,
        redis: redis.url,
        history: [{ rooms: ['gap:*'], maxMessages: 5000 }],
      });
      const watched: Watched[] = [];
      try {
        for (let i = 0; i < CLIENTS; i++) {
          const w: Watched = { client: connect(edge.url), got: [], connects: 0 };
          w.client.on('n', (data) => w.got.push((data as { i: number }).i));
          w.client.on('connected', () => w.connects++);
          watched.push(w);
        }
        await Promise.all(watched.map((w) => w.client.ready()));
        await Promise.all(watched.map((w) => w.client.join(ROOM)));
        let sent = 0;
        const send = async (count: number, pad = '') => {
          for (let k = 0; k < count; k++) await server.to(ROOM).emit('n', { i: sent++, pad });
        };
        await send(BEFORE);
        expect(
          await eventually(() => watched.every((w) => w.got.length === BEFORE), {
            timeoutMs: 5000,
            everyMs: 25,
            soft: true,
          }),
        ).toBeDefined();

        const pid = edge.pid!;
        process.kill(pid, 'SIGSTOP');
        const frozenAt = performance.now();
        try {
          await send(DURING, PAD);
          await sleep(700); // past the write deadline: the server gives up on the edge
        } finally {
          process.kill(pid, 'SIGCONT');
        }
        const frozenForMs = Math.round(performance.now() - frozenAt);
        // Nothing more is sent: only the edge's check after its bus reconnect can fill it.
        const filledAfter = await eventually(
          () => watched.every((w) => w.got.length >= BEFORE + DURING),
          { timeoutMs: 15_000, everyMs: 25, soft: true },
        );
        const stats = await edge.stats();
        await send(AFTER);
        const all = Array.from({ length: BEFORE + DURING + AFTER }, (_, i) => i);
        await eventually(() => watched.every((w) => w.got.length >= all.length), {
          timeoutMs: 10_000,
          everyMs: 25,
          soft: true,
        });
        figures('history gap', {
          frozenForMs,
          filledAfterResumeMs: filledAfter ?? -1,
          gapsFilled: stats.historyGapsFilled,
          gapEntries: stats.historyGapEntries,
          gapsLost: stats.historyGapsLost,
        });
        // The edge really lost part of the stream, and filled it.
        expect(stats.historyGapsFilled).toBeGreaterThanOrEqual(1);
        expect(stats.historyGapEntries).toBeGreaterThan(0);
        expect(stats.historyGapsLost).toBe(0);
        expect(filledAfter).toBeDefined();
        for (const w of watched) {
          expect(w.got).toEqual(all); // every message, in order, none twice
          expect(w.connects).toBe(1); // no reconnect was needed
        }
      } finally {
        for (const w of watched) w.client.close();
        await server.close();
      }
    },
  );
});
