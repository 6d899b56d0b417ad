/*
 * Chaos: an edge dies (kill -9) while a room that keeps history gets steady traffic.
 * Its clients fail over to the other nodes with the SDK's URL list and rejoin with their
 * positions; the new node replays what they missed from JetStream before the live events.
 *
 * Promised, and asserted: every client, including those of the dead node, ends with
 * every message of the run exactly once and in order, and each client of the dead node
 * was told `recovered: true` with the number of events replayed to it.
 */
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { createServer } from '@roomfabric/server';
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { FAST_RECONNECT } from '../support/chaos-clients.js';
import { chaosEdgeArgs, figures, MEMBERSHIP_ARGS, sleep } from '../support/chaos-fabric.js';

const ROOM = 'hist:match';
const HISTORY = ['--history', 'hist:*', '--history-max-messages', '5000'];
const CLIENTS = 24;
const MESSAGES = 600;
/** One message every this many ms: the run lasts ~MESSAGES * PACE_MS. */
const PACE_MS = 4;

interface Watched {
  client: RoomfabricClient;
  got: number[];
  nodes: string[];
  rejoins: Array<{ recovered: boolean | null; missed: number }>;
}

function watch(client: RoomfabricClient): Watched {
  const w: Watched = { client, got: [], nodes: [], rejoins: [] };
  client.on('n', (data, meta) => {
    if (meta.room === ROOM) w.got.push(data as number);
  });
  client.on('connected', ({ nodeId }) => w.nodes.push(nodeId));
  client.on('rejoined', ({ room, recovered, missed }) => {
    if (room === ROOM) w.rejoins.push({ recovered, missed });
  });
  return w;
}

describe('chaos: history recovery across an edge kill', () => {
  it('gives every client of the dead node every message it missed, in order, none twice', async () => {
    await using cluster = await startCluster({
      edges: 3,
      jetstream: true,
      edgeArgs: [...chaosEdgeArgs(), ...HISTORY],
      membershipArgs: MEMBERSHIP_ARGS,
    });
    const server = await createServer({
      nats: cluster.natsUrls,
      redis: cluster.redis.url,
      history: [{ rooms: ['hist:*'], maxMessages: 5000 }],
    });
    try {
      const urls = cluster.edges.map((e) => e.url);
      const watched = Array.from({ length: CLIENTS }, (_, i) => {
        const rotated = urls.map((_, k) => urls[(i + k) % urls.length]!);
        return watch(connect(rotated, { reconnect: FAST_RECONNECT, ackTimeoutMs: 5000 }));
      });
      await Promise.all(watched.map((w) => w.client.ready()));
      const joinStarted = performance.now();
      await Promise.all(watched.map((w) => w.client.join(ROOM)));
      const joinAllMs = Math.round(performance.now() - joinStarted);

      const victim = cluster.edges[0]!;
      const onVictim = watched.filter((w) => w.nodes[0] === victim.nodeId);
      expect(onVictim.length).toBeGreaterThan(0);

      // One publisher, each emit awaited: stored in this order, so offsets follow it.
      let killedAt = 0;
      const publishing = (async () => {
        for (let i = 0; i < MESSAGES; i++) {
          await server.to(ROOM).emit('n', i);
          if (i === MESSAGES / 3) {
            killedAt = performance.now();
            void victim.kill('SIGKILL');
          }
          await sleep(PACE_MS);
        }
      })();
      await publishing;

      const all = Array.from({ length: MESSAGES }, (_, i) => i);
      const done = await eventually(
        () => watched.every((w) => w.got.length >= MESSAGES && w.client.state === 'connected'),
        { timeoutMs: 15_000, everyMs: 25, soft: true },
      );
      const recoveredAt = performance.now();
      figures('history recovery', {
        clients: CLIENTS,
        onKilledNode: onVictim.length,
        messages: MESSAGES,
        joinAllMs,
        replayed: onVictim.map((w) => w.rejoins[0]?.missed ?? -1).join('/'),
        allCompleteAfterKillMs: Math.round(recoveredAt - killedAt),
        pollMs: done ?? -1,
      });
      for (const w of watched) {
        expect(w.got).toEqual(all); // every message, in order, none twice
      }
      for (const w of onVictim) {
        expect(w.nodes.length).toBe(2);
        expect(w.nodes[1]).not.toBe(victim.nodeId);
        expect(w.rejoins).toHaveLength(1);
        expect(w.rejoins[0]!.recovered).toBe(true);
        expect(w.rejoins[0]!.missed).toBeGreaterThan(0);
      }
      for (const w of watched) w.client.close();
    } finally {
      await server.close();
    }
  });
});
