import type { ChildHandle } from '../child.js';
import { LoadFleet } from '../load/fleet.js';
import type { ClientGroup } from '../load/worker.js';
import { table, type Progress } from '../report.js';
import { check, ratio, type Check, type CommonOptions, type ScenarioResult } from '../scenario.js';
import {
  sioUrl,
  startEdges,
  runOursAndPeer,
  startPublisher,
  startSioNodes,
  type Infra,
} from '../systems.js';

/** Options of the bus scenario. */
export interface BusOptions extends CommonOptions {
  /** Nodes (6). */
  nodes: number;
  rooms: number;
  /** Broadcasts per room. */
  messages: number;
}

/** Figures of one system. */
export interface BusFigures {
  broadcasts: number;
  /** Bus messages the nodes received for those broadcasts, all nodes together. */
  nodeDeliveries: number;
  perBroadcast: number;
  /** Mean number of nodes with members of the target room. */
  nodesWithMembers: number;
  /** Rooms for which every broadcast reached exactly the nodes with members (ours only). */
  roomsExact?: number;
  clientFrames: number;
  expectedFrames: number;
}

/**
 * Which nodes hold members of room `i`: even rooms one node, odd rooms two, spread so that
 * every node holds about as many rooms as the others.
 */
export function roomNodes(i: number, nodes: number): number[] {
  const a = i % nodes;
  if (i % 2 === 0) return [a];
  return [a, (a + 1 + (Math.floor(i / nodes) % (nodes - 1))) % nodes];
}

const roomName = (i: number) => `bus:${String(i).padStart(5, '0')}`;

/**
 * bus: N nodes, rooms whose members sit on 1 or 2 nodes, `messages` broadcasts per room from
 * a backend. Counts how many node deliveries each broadcast cost: per-room bus counters
 * (`GET /stats`, `busInByRoom`) for the edges, Redis subscriber messages for Socket.IO.
 */
export async function bus(o: BusOptions, progress: Progress): Promise<ScenarioResult> {
  const checks: Check[] = [];
  const { ours, peer } = await runOursAndPeer(
    { withMembership: false, noPeer: o.noPeer },
    progress,
    checks,
    (system, infra) => runSystem(system, infra, o, progress, checks),
  );
  const row = (name: string, f: BusFigures) => [
    name,
    f.broadcasts,
    f.nodeDeliveries,
    f.perBroadcast,
    f.nodesWithMembers,
    `${f.clientFrames}/${f.expectedFrames}`,
  ];
  const text = table(
    [
      'system',
      'broadcasts',
      'node deliveries',
      'per broadcast',
      'nodes with members',
      'client frames',
    ],
    [row('roomfabric', ours), ...(peer ? [row('socket.io + redis-adapter', peer)] : [])],
  );
  return {
    scenario: 'bus',
    params: { ...o },
    ours,
    peer,
    ratio: { nodeDeliveries: ratio(ours.nodeDeliveries, peer?.nodeDeliveries) },
    goals: [
      {
        goal: 'deliveries per broadcast = nodes with members',
        value: `${ours.perBroadcast} = ${ours.nodesWithMembers} (${ours.roomsExact}/${o.rooms} rooms exact)`,
        met: ours.roomsExact === o.rooms,
      },
    ],
    checks,
    table: text,
  };
}

async function runSystem(
  system: 'ours' | 'peer',
  infra: Infra,
  o: BusOptions,
  progress: Progress,
  checks: Check[],
): Promise<BusFigures> {
  progress.step(`${system}: starting ${o.nodes} nodes`);
  const nodes =
    system === 'ours' ? await startEdges(infra, o.nodes) : await startSioNodes(infra, o.nodes);
  let publisher: ChildHandle | undefined;
  let fleet: LoadFleet | undefined;
  try {
    publisher = await startPublisher(system === 'ours' ? 'rf' : 'sio', infra, o.dataBytes);
    fleet = await LoadFleet.start(o.loadProcs);
    const groups: ClientGroup[] = [];
    let pairs = 0;
    for (let i = 0; i < o.rooms; i++) {
      const room = roomName(i);
      for (const n of roomNodes(i, o.nodes)) {
        const url = nodes.urls[n]!;
        groups.push({
          url: system === 'peer' ? sioUrl(url, [room]) : url,
          count: 1,
          rooms: system === 'ours' ? [room] : [],
          eventRoom: room,
        });
        pairs++;
      }
    }
    progress.step(`${system}: connecting ${pairs} clients (one per room and node)`);
    const failed = await fleet.connect(system === 'ours' ? 'rf' : 'sio', groups, (n) =>
      progress.update(`${n}/${pairs}`),
    );
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    const before = await nodes.stats();
    progress.step(`${system}: ${o.messages} broadcasts to each of ${o.rooms} rooms`);
    const rooms = Array.from({ length: o.rooms }, (_, i) => roomName(i));
    await publisher.call('burst', { rooms, n: o.messages });
    await fleet.waitFor('frames', o.messages, 30_000);
    // Let any stray copy arrive before counting (there must be none).
    await new Promise((r) => setTimeout(r, 300));
    const after = await nodes.stats();
    const { counters } = await fleet.stats();
    const broadcasts = o.rooms * o.messages;
    const withMembers = rooms.reduce((n, _, i) => n + roomNodes(i, o.nodes).length, 0);
    checks.push(check(`${system} client frames`, counters.frames, pairs * o.messages));
    let nodeDeliveries: number;
    let roomsExact: number | undefined;
    if (system === 'ours') {
      const got = (i: number) =>
        after.reduce((n, s, k) => n + byRoom(s, roomName(i)) - byRoom(before[k]!, roomName(i)), 0);
      nodeDeliveries = rooms.reduce((n, _, i) => n + got(i), 0);
      roomsExact = rooms.filter(
        (_, i) => got(i) === o.messages * roomNodes(i, o.nodes).length,
      ).length;
      checks.push(check('ours rooms with deliveries = nodes with members', roomsExact, o.rooms));
    } else {
      nodeDeliveries = after.reduce(
        (n, s, k) => n + (s.fromRedis as number) - (before[k]!.fromRedis as number),
        0,
      );
      checks.push(check('peer node deliveries = every node', nodeDeliveries, broadcasts * o.nodes));
    }
    return {
      broadcasts,
      nodeDeliveries,
      perBroadcast: Math.round((nodeDeliveries / broadcasts) * 1000) / 1000,
      nodesWithMembers: Math.round((withMembers / o.rooms) * 1000) / 1000,
      ...(roomsExact !== undefined && { roomsExact }),
      clientFrames: counters.frames,
      expectedFrames: pairs * o.messages,
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await publisher?.call('close', null, 10_000).catch(() => undefined);
    await publisher?.stop();
    await nodes.stop();
  }
}

function byRoom(stats: Record<string, unknown>, room: string): number {
  return (stats.busInByRoom as Record<string, number> | undefined)?.[room] ?? 0;
}
