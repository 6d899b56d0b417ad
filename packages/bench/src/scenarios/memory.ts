import { LoadFleet } from '../load/fleet.js';
import type { Proto } from '../load/drivers.js';
import { table, type Progress } from '../report.js';
import { check, ratio, type Check, type CommonOptions, type ScenarioResult } from '../scenario.js';
import {
  probe,
  sioUrl,
  startEdges,
  startInfra,
  startSioNodes,
  startWsNodes,
  type Infra,
  type NodeSet,
} from '../systems.js';

/** Options of the memory scenario. */
export interface MemoryOptions extends CommonOptions {
  clients: number;
}

/** Per-connection memory of one server process. */
export interface MemoryFigures {
  connections: number;
  heapPerConn: number;
  rssPerConn: number;
  externalPerConn: number;
  heapBefore: number;
  heapAfter: number;
}

type System = 'ours' | 'ws' | 'peer';

/**
 * memory: `clients` idle connections to ONE server process at a time: an edge (clients did
 * CONNECT and got HELLO; cluster mode, so the index lives in Redis, not in the process), a
 * plain `ws` server, and a Socket.IO server (connected to "/"). Heap and RSS are read in the
 * process after a full GC, before and after connecting.
 */
export async function memory(o: MemoryOptions, progress: Progress): Promise<ScenarioResult> {
  progress.step('starting NATS and Redis');
  const infra = await startInfra();
  const checks: Check[] = [];
  const figures: Partial<Record<System, MemoryFigures>> = {};
  const systems: System[] = o.noPeer ? ['ours', 'ws'] : ['ours', 'ws', 'peer'];
  try {
    for (const s of systems) figures[s] = await runSystem(s, infra, o, progress, checks);
  } finally {
    progress.step('stopping');
    await infra.stop();
    progress.end();
  }
  const { ours, ws, peer } = figures as Record<System, MemoryFigures>;
  const kb = (b: number) => Math.round(b / 102.4) / 10;
  const names: Record<System, string> = {
    ours: 'roomfabric edge',
    ws: 'plain ws',
    peer: 'socket.io + redis-adapter',
  };
  const text = table(
    ['server', 'connections', 'heap KiB/conn', 'RSS KiB/conn', 'external KiB/conn'],
    systems.map((s) => {
      const f = figures[s]!;
      return [names[s], f.connections, kb(f.heapPerConn), kb(f.rssPerConn), kb(f.externalPerConn)];
    }),
  );
  const vsWs = ratio(ours.heapPerConn, ws.heapPerConn);
  const vsPeer = ratio(ours.heapPerConn, peer?.heapPerConn);
  return {
    scenario: 'memory',
    params: { ...o },
    ours,
    peer,
    ceiling: ws,
    ratio: {
      heapVsWs: vsWs,
      heapVsPeer: vsPeer,
      rssVsPeer: ratio(ours.rssPerConn, peer?.rssPerConn),
    },
    goals: [
      { goal: 'heap/conn <= 1.5x plain ws', value: `${vsWs}x`, met: vsWs <= 1.5 },
      { goal: 'heap/conn <= 0.5x socket.io', value: `${vsPeer}x`, met: vsPeer <= 0.5 },
    ],
    checks,
    table: text,
  };
}

async function startNodes(system: System, infra: Infra): Promise<NodeSet> {
  if (system === 'ours') return startEdges(infra, 1, { probe: true });
  if (system === 'peer') return startSioNodes(infra, 1, { probe: true });
  return startWsNodes(1, 'idle', undefined, [], { probe: true });
}

async function runSystem(
  system: System,
  infra: Infra,
  o: MemoryOptions,
  progress: Progress,
  checks: Check[],
): Promise<MemoryFigures> {
  progress.step(`${system}: starting the server`);
  const nodes = await startNodes(system, infra);
  let fleet: LoadFleet | undefined;
  try {
    fleet = await LoadFleet.start(o.loadProcs);
    const base = nodes.probes[0]!;
    const settle = o.clients >= 1000 ? 1000 : 100;
    await new Promise((res) => setTimeout(res, settle)); // let start-up garbage settle
    const before = await probe(base, '/memory');
    progress.step(`${system}: connecting ${o.clients} idle clients`);
    const proto: Proto = system === 'ours' ? 'rf' : system === 'peer' ? 'sio' : 'plain';
    const url = system === 'peer' ? sioUrl(nodes.urls[0]!, []) : nodes.urls[0]!;
    const failed = await fleet.connect(proto, [{ url, count: o.clients, rooms: [] }], (n) =>
      progress.update(`${n}/${o.clients}`),
    );
    await new Promise((res) => setTimeout(res, settle));
    const after = await probe(base, '/memory');
    const [stats] = await nodes.stats();
    const held = Number(system === 'ours' ? stats!.sockets : stats!.sockets);
    checks.push(check(`${system} connections held`, held, o.clients));
    if (failed > 0) throw new Error(`${failed} clients could not connect`);
    const per = (k: string) => (after[k]! - before[k]!) / o.clients;
    return {
      connections: held,
      heapPerConn: Math.round(per('heapUsed')),
      rssPerConn: Math.round(per('rss')),
      externalPerConn: Math.round(per('external')),
      heapBefore: before.heapUsed!,
      heapAfter: after.heapUsed!,
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await nodes.stop();
  }
}
