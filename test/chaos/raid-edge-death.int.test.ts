/*
 * Chaos: a raid runs while an edge dies (kill -9), three rounds, each with the kill at a
 * different moment (just before the raid call, at the same time, a few ms into it), SDK
 * clients (which reconnect and rejoin on their own) and traffic flowing the whole time.
 *
 * Promised, and asserted, each round:
 * - the raid call resolves (a dead node cannot prepare; its sockets still move in the
 *   index and are purged with their node, docs/cluster.md);
 * - the index ends consistent: no socket in both rooms; none orphaned (every member of
 *   either room is a live socket, registered on the node that holds it, whose own room
 *   set lists the room); every live client in exactly the rooms it believes it is in
 *   (the SDK follows MOVED frames), and no ghost of the dead node;
 * - each client got at most one MOVED for the raid, and every member of the source room
 *   that stayed connected got exactly one; such a mover misses no message of the target
 *   room published after the raid call resolved; every client gets every message
 *   published after its (re)join.
 * Clients of the dead node that reconnect and rejoin the source room after the index
 * moved it stay there ("stragglers", printed): they were not connected when the raid ran.
 */
import { type createServer, type RaidReport } from '@roomfabric/server';
import { startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { openChaosClients, type ChaosClient } from '../support/chaos-clients.js';
import {
  chaosEdgeArgs,
  figures,
  LEASE_TTL_MS,
  MEMBERSHIP_ARGS,
  sleep,
} from '../support/chaos-fabric.js';
import { indexDiff, stillIndexed } from '../support/chaos-index.js';
import { chaosBackends, duplicates, waitDelivered } from '../support/chaos-traffic.js';

const CLIENTS = 45;
const MOVERS = 36;
/** When the edge is killed, relative to the raid call. */
const KILL_AT = [
  { label: 'kill, then raid', delayMs: -1 },
  { label: 'kill and raid at once', delayMs: 0 },
  { label: 'kill 5 ms into the raid', delayMs: 5 },
];
const ROUNDS = KILL_AT.length;
const ROOMS = ['lobby', ...Array.from({ length: ROUNDS }, (_, k) => [`from${k}`, `to${k}`]).flat()];
const SETTLE_BOUND_MS = LEASE_TTL_MS + 1000 + 5000;

describe('chaos: raid while an edge dies', () => {
  it(`${ROUNDS} rounds: the raid resolves and the index ends consistent`, async () => {
    await using cluster = await startCluster({
      edges: 3,
      edgeArgs: chaosEdgeArgs(),
      membershipArgs: MEMBERSHIP_ARGS,
    });
    const backends = await chaosBackends(cluster, ROOMS);
    const { server, traffic } = backends;
    const clients = await openChaosClients(
      cluster.edges.map((e) => e.url),
      CLIENTS,
      traffic,
    );
    try {
      await Promise.all(clients.map((c) => c.join('lobby')));
      traffic.start();
      for (let k = 0; k < ROUNDS; k++) {
        const { label, delayMs } = KILL_AT[k]!;
        const from = `from${k}`;
        const to = `to${k}`;
        const round = `raid + edge kill #${k + 1} (${label})`;
        // Fresh rooms for the round: MOVERS clients in `from`, the rest in `to`.
        await Promise.all(
          clients.map(async (c) => {
            for (const room of c.rooms()) if (room !== 'lobby') await c.client.leave(room);
          }),
        );
        await Promise.all(clients.map((c, i) => c.join(i < MOVERS ? from : to)));
        const before = await waitDelivered(clients, traffic, 5000);
        expect(before.missing, `${round}: delivery before: ${before.worst}`).toBe(0);

        // The victim: the edge holding the most movers.
        const load = cluster.edges.map(
          (e) => clients.filter((c, i) => i < MOVERS && c.client.nodeId === e.nodeId).length,
        );
        const victim = cluster.edges[load.indexOf(Math.max(...load))]!;
        const victims = clients.filter((c) => c.client.nodeId === victim.nodeId);
        const deadIds = victims.map((c) => c.client.id!);
        const steady = clients.filter((c) => c.client.nodeId !== victim.nodeId);

        const startedAt = performance.now();
        let report: RaidReport | undefined;
        let raidError: string | undefined;
        const call = async () => {
          try {
            report = await server.raid(from, to, { timeoutMs: 20_000 });
          } catch (err) {
            raidError = (err as { code?: string }).code ?? String(err);
          }
        };
        let raidDone: Promise<void>;
        if (delayMs < 0) {
          await victim.kill('SIGKILL');
          raidDone = call();
        } else {
          raidDone = call();
          if (delayMs > 0) await sleep(delayMs);
          await victim.kill('SIGKILL');
        }
        const killedAt = performance.now();
        await raidDone;
        const raidMs = Math.round(performance.now() - startedAt);
        const resolvedTo = traffic.issued(to);
        // Members of `from` that stayed connected must be moved, and owe every `to`
        // message published after the call resolved (even if MOVED comes after that).
        const steadyMovers = steady.filter((c) => clients.indexOf(c) < MOVERS);
        for (const c of steadyMovers) c.ledger.owedAfter(to, resolvedTo);

        // Settle: the dead node's clients back, its sockets purged, the index consistent.
        const consistent = async () =>
          victims.every((c) => c.connectedSince(killedAt) !== undefined) &&
          (await stillIndexed(server, deadIds)).length === 0 &&
          (await raidProblems(server, clients, from, to)).length === 0;
        const settled = await eventually(consistent, {
          timeoutMs: SETTLE_BOUND_MS,
          everyMs: 50,
          soft: true,
        });
        const settledMs =
          settled === undefined ? undefined : Math.round(performance.now() - killedAt);
        const problems = await raidProblems(server, clients, from, to);
        const ghosts = await stillIndexed(server, deadIds);
        const after = await waitDelivered(clients, traffic, 5000);
        const doubled = clients.filter(
          (c) => c.moves.filter((m) => m === `${from}->${to}`).length > 1,
        );
        const unmoved = steadyMovers.filter((c) => !c.moves.includes(`${from}->${to}`));
        const inFrom = clients.filter((c) => c.rooms().includes(from));
        figures(round, {
          victim: victim.nodeId,
          clientsOnVictim: victims.length,
          raid: report
            ? `moved ${report.moved} over ${report.nodes} nodes, commit ${report.commitMs} ms, call ${raidMs} ms`
            : `failed ${raidError} after ${raidMs} ms`,
          moversNotified: `${clients.filter((c) => c.moves.includes(`${from}->${to}`)).length}/${MOVERS}`,
          'stragglers left in from': inFrom.length,
          'kill->consistent ms': settledMs ?? `>${SETTLE_BOUND_MS}`,
          'lost after (re)join': after.missing,
        });
        expect(raidError, `${round}: the raid call`).toBeUndefined();
        expect(ghosts, `${round}: ghosts of ${victim.nodeId}`).toEqual([]);
        expect(problems, `${round}: index consistency`).toEqual([]);
        expect(settledMs, `${round}: kill -> consistent, ms`).toBeDefined();
        expect(
          doubled.map((c) => c.label),
          `${round}: clients moved twice`,
        ).toEqual([]);
        expect(
          unmoved.map((c) => c.label),
          `${round}: connected members not moved`,
        ).toEqual([]);
        expect(after.missing, `${round}: ${after.worst}`).toBe(0);
        await victim.restart();
      }
      await traffic.stop();
      const final = await waitDelivered(clients, traffic, 5000);
      const dupes = duplicates(clients);
      figures('raid + edge kill: whole run', {
        published: traffic.published,
        refused: traffic.failures,
        'lost after (re)join': final.missing,
        duplicates: dupes,
      });
      expect(final.missing, final.worst).toBe(0);
      expect(dupes).toBe(0);
      expect(traffic.failures).toBe(0);
    } finally {
      for (const c of clients) c.client.close();
      await backends.close();
    }
  }, 120_000);
});

/**
 * What is wrong with the index after a raid from `from` to `to`, against the live clients:
 * a socket in both rooms; an orphan (a member whose socket is not registered, is
 * registered on another node, or does not list the room); a live client not in exactly
 * the rooms it believes it is in (`indexDiff`, with lobby).
 */
async function raidProblems(
  server: Awaited<ReturnType<typeof createServer>>,
  clients: readonly ChaosClient[],
  from: string,
  to: string,
): Promise<string[]> {
  const problems: string[] = [];
  const [inFrom, inTo] = await Promise.all([
    server.in(from).fetchSockets(),
    server.in(to).fetchSockets(),
  ]);
  const fromIds = new Set(inFrom.map((m) => m.id));
  for (const m of inTo) if (fromIds.has(m.id)) problems.push(`${m.id} in both ${from} and ${to}`);
  for (const [room, members] of [
    [from, inFrom],
    [to, inTo],
  ] as const) {
    for (const m of members) {
      const info = await server.fabric.membership.socket(m.id);
      if (!info) problems.push(`orphan ${m.id} in ${room}: no socket registered`);
      else if (info.nodeId !== m.nodeId) {
        problems.push(
          `orphan ${m.id} in ${room}: room says ${m.nodeId}, socket says ${info.nodeId}`,
        );
      } else if (!(await server.roomsOf(m.id)).includes(room)) {
        problems.push(`orphan ${m.id} in ${room}: its own rooms do not list it`);
      }
    }
  }
  const truth = clients.map((c) => ({
    id: c.client.id!,
    nodeId: c.client.nodeId!,
    rooms: c.rooms(),
  }));
  problems.push(...(await indexDiff(server, truth, ['lobby', from, to])));
  return problems;
}
