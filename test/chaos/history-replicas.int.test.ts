/*
 * Chaos: a 3-server NATS cluster with clustered JetStream, history kept with 3 replicas
 * (as docker/docker-compose.yml runs it), and the server leading the room's stream killed
 * with -9 under traffic.
 *
 * Promised, and asserted: every broadcast the publisher got an ack for reaches every
 * client exactly once and in stored order, whichever NATS server its edge was on;
 * broadcasts refused during the leader election are counted, not promised (the publisher
 * is told), and one whose ack was lost may still arrive, once. An edge whose NATS server
 * was the one killed fills what it missed from the new leader (history-gaps.ts).
 */
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { type NatsBus } from '@roomfabric/bus';
import { createServer } from '@roomfabric/server';
import { startCluster, type NatsClusterHandle, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { FAST_RECONNECT } from '../support/chaos-clients.js';
import { chaosEdgeArgs, figures, MEMBERSHIP_ARGS, sleep } from '../support/chaos-fabric.js';

const ROOM = 'rep:match';
const POLICY = { rooms: ['rep:*'], maxMessages: 5000 };
const HISTORY = ['--history', 'rep:*', '--history-max-messages', '5000', '--history-replicas', '3'];
const CLIENTS = 12;
const MESSAGES = 400;

describe('chaos: the JetStream leader of a replicated history dies', () => {
  it(
    'every acknowledged broadcast reaches every client once, in order',
    { timeout: 60_000 },
    async () => {
      await using cluster = await startCluster({
        edges: 2,
        natsCluster: true,
        jetstream: true,
        edgeArgs: [...chaosEdgeArgs(), ...HISTORY],
        membershipArgs: MEMBERSHIP_ARGS,
      });
      const nats = cluster.nats as NatsClusterHandle;
      // The same policy as the edges' flags: the same stream (named after its patterns).
      const server = await createServer({
        nats: cluster.natsUrls,
        redis: cluster.redis.url,
        history: [POLICY],
      });
      const clients: Array<{ client: RoomfabricClient; got: number[] }> = [];
      try {
        const bus = server.fabric.bus as NatsBus;
        const jsm = await jetstreamManager(bus.nc);
        const stream = (await jsm.streams.list().next()).find((s) =>
          s.config.name.startsWith('RF_HISTORY_'),
        );
        expect(stream?.config.num_replicas).toBe(3);
        const leader = stream!.cluster!.leader!;
        const victim = nats.servers.find((s) => s.name === leader)!;
        expect(victim).toBeDefined();

        const urls = cluster.edges.map((e) => e.url);
        for (let i = 0; i < CLIENTS; i++) {
          const rotated = urls.map((_, k) => urls[(i + k) % urls.length]!);
          const entry = {
            client: connect(rotated, { reconnect: FAST_RECONNECT }),
            got: [] as number[],
          };
          entry.client.on('n', (data) => entry.got.push(data as number));
          clients.push(entry);
        }
        await Promise.all(clients.map((c) => c.client.ready()));
        await Promise.all(clients.map((c) => c.client.join(ROOM)));

        const acked: number[] = [];
        const refused: number[] = [];
        let killedAt = 0;
        let firstAckAfterKill = -1;
        for (let i = 0; i < MESSAGES; i++) {
          if (i === MESSAGES / 4) {
            killedAt = performance.now();
            void victim.kill('SIGKILL');
          }
          try {
            await server.to(ROOM).emit('n', i);
            acked.push(i);
            if (killedAt > 0 && firstAckAfterKill < 0) {
              firstAckAfterKill = Math.round(performance.now() - killedAt);
            }
          } catch {
            refused.push(i);
          }
          await sleep(3);
        }
        const done = await eventually(
          () => clients.every((c) => acked.every((i) => c.got.includes(i))),
          { timeoutMs: 20_000, everyMs: 25, soft: true },
        );
        const newLeader = (await jsm.streams.info(stream!.config.name)).cluster?.leader;
        figures('history replicas', {
          clients: CLIENTS,
          messages: MESSAGES,
          killedLeader: leader,
          newLeader: newLeader ?? '?',
          acked: acked.length,
          refused: refused.length,
          firstAckAfterKillMs: firstAckAfterKill,
          allDeliveredMs: done ?? -1,
        });
        expect(newLeader).not.toBe(leader);
        expect(acked.length).toBeGreaterThan(MESSAGES / 2);
        for (const { got } of clients) {
          expect(new Set(got).size).toBe(got.length); // none twice
          expect(got).toEqual([...got].sort((a, b) => a - b)); // in stored (= publish) order
          const missing = acked.filter((i) => !got.includes(i));
          expect(missing).toEqual([]); // every acknowledged broadcast
          const extra = got.filter((i) => !acked.includes(i));
          expect(extra.every((i) => refused.includes(i))).toBe(true);
        }
      } finally {
        for (const c of clients) c.client.close();
        await server.close();
      }
    },
  );
});
