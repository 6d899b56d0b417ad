import { forkChild, type ChildHandle } from '../child.js';
import { CpuMeter } from '../cpu.js';
import type { Proto } from '../load/drivers.js';
import { LoadFleet } from '../load/fleet.js';
import { startProfiles, stopProfiles, topFunctions, type HotFunction } from '../profile.js';
import { ceilingSubject, type PublisherKind } from '../publisher.js';
import { fmt, ms, type Progress } from '../report.js';
import type { CommonOptions } from '../scenario.js';
import {
  sioUrl,
  startEdges,
  startSioNodes,
  startWsNodes,
  type Infra,
  type NodeSet,
} from '../systems.js';

/** Options of the fanout scenario. */
export interface FanoutOptions extends CommonOptions {
  clients: number;
  /** Messages per burst. */
  burst: number;
  /** Bursts in flight in the saturation phase. */
  window: number;
  /** Length of each measured phase. */
  durationMs: number;
  warmupMs: number;
  /** Most messages published in the saturation phase. */
  messages: number;
  /** Open-loop load levels, as fractions of the saturation publish rate (0.5 is required). */
  levels: number[];
  noCeiling: boolean;
  /** Run only these systems. */
  only?: string[];
}

/** Which system runs: ours, Socket.IO, or the plain ws ceiling. */
export type System = 'ours' | 'peer' | 'ceiling';

/** Latency and throughput at one open-loop load level. */
export interface Level {
  /** Fraction of the saturation publish rate. */
  fraction: number;
  deliveredPerSec: number;
  p50ms: number;
  p99ms: number;
  samples: number;
}

/** Figures of one system. */
export interface FanoutFigures {
  nodes: number;
  clients: number;
  /** Saturation (closed loop): delivered messages per second. */
  deliveredPerSec: number;
  publishedPerSec: number;
  p50msAtMax: number;
  p99msAtMax: number;
  /** Open loop at half the saturation publish rate. */
  half: Level;
  levels: Level[];
  delivered: number;
  expected: number;
  errors: number;
  cpuAtMax: Record<string, number>;
  /** Server CPU per delivered message at saturation, microseconds (robust to a busy box). */
  serverUsPerMsg: number;
  profile?: Record<string, HotFunction[]>;
}

const ROOM = 'fanout';
const PROTO: Record<System, Proto> = { ours: 'rf', peer: 'sio', ceiling: 'plain' };
const PUBLISHER: Record<System, PublisherKind> = { ours: 'rf', peer: 'sio', ceiling: 'ceiling' };

async function startNodes(system: System, infra: Infra, o: FanoutOptions): Promise<NodeSet> {
  if (system === 'ours') return startEdges(infra, 2, { probe: o.cpuProf !== undefined });
  if (system === 'peer') return startSioNodes(infra, 2);
  const subject = ceilingSubject(ROOM);
  return startWsNodes(2, 'ceiling', infra, [subject, subject]);
}

/**
 * One system through the whole fanout: 2 nodes, a publisher, the load processes; warm-up,
 * saturation (closed loop: at most `window` bursts not yet delivered to every client), then
 * an open loop at each load level.
 */
export async function runFanout(
  system: System,
  infra: Infra,
  o: FanoutOptions,
  progress: Progress,
): Promise<FanoutFigures> {
  progress.step(`${system}: starting 2 nodes, a publisher and ${o.loadProcs} load processes`);
  const nodes = await startNodes(system, infra, o);
  let publisher: ChildHandle | undefined;
  let fleet: LoadFleet | undefined;
  try {
    publisher = forkChild('publisher', 'publisher.js');
    await publisher.waitEvent('ready');
    await publisher.call('init', {
      kind: PUBLISHER[system],
      nats: [infra.nats.url],
      redis: infra.redis.url,
      dataBytes: o.dataBytes,
    });
    const pub = publisher;
    const load = (fleet = await LoadFleet.start(o.loadProcs));
    progress.step(`${system}: connecting ${o.clients} clients`);
    const half = Math.floor(o.clients / 2);
    const groups = nodes.urls.map((url, i) => ({
      url: system === 'peer' ? sioUrl(url, [ROOM]) : url,
      count: i === 0 ? half : o.clients - half,
      rooms: system === 'ours' ? [ROOM] : [],
      eventRoom: ROOM,
    }));
    const failed = await load.connect(
      PROTO[system],
      groups,
      (n) => progress.update(`${n}/${o.clients}`),
      o.dataBytes,
    );
    if (failed > 0) {
      throw new Error(`${failed} clients could not connect: ${(await load.stats()).lastError}`);
    }

    let published = 0;
    const closedLoop = async (durationMs: number) => {
      const t0 = performance.now();
      let sent = 0;
      const inflight: Array<Promise<void>> = [];
      while (performance.now() - t0 < durationMs && sent < o.messages) {
        if (inflight.length >= o.window) await inflight.shift();
        await pub.call('burst', { rooms: [ROOM], n: o.burst });
        sent += o.burst;
        published += o.burst;
        const done = load.waitFor('frames', published, 30_000);
        done.catch(() => undefined);
        inflight.push(done);
        progress.update(`${Math.round((published * o.clients) / 1000)}K delivered`);
      }
      await Promise.all(inflight);
      return { sent, seconds: (performance.now() - t0) / 1000 };
    };

    progress.step(`${system}: warm-up`);
    await closedLoop(o.warmupMs);
    await load.stats(true);
    progress.step(`${system}: saturation, bursts of ${o.burst}, ${o.window} in flight`);
    const cpu = new CpuMeter({
      servers: nodes.pids,
      nats: [infra.nats.pid],
      redis: [infra.redis.pid],
      publisher: [pub.pid],
      load: load.pids,
    }).start();
    const profiling = o.cpuProf !== undefined && nodes.probes.length > 0;
    if (profiling) await startProfiles(nodes.probes);
    const max = await closedLoop(o.durationMs);
    const cpuAtMax = cpu.stop();
    let profile: Record<string, HotFunction[]> | undefined;
    if (profiling) {
      const files = await stopProfiles(nodes.probes, o.cpuProf!, `fanout-${system}`);
      profile = Object.fromEntries(files.map((f) => [f, topFunctions(f)]));
    }
    const atMax = await load.stats(true);
    const publishRate = max.sent / max.seconds;
    const deliveredPerSec = (max.sent * load.total) / max.seconds;

    const levels: Level[] = [];
    for (const fraction of o.levels) {
      const rate = publishRate * fraction;
      progress.step(`${system}: open loop at ${fraction * 100}% (${fmt(rate)} publishes/s)`);
      const t0 = performance.now();
      const sent = await pub.call<number>(
        'paced',
        { rooms: [ROOM], rate, burst: o.burst, durationMs: o.durationMs },
        o.durationMs + 60_000,
      );
      published += sent;
      await load.waitFor('frames', published, 30_000);
      const seconds = (performance.now() - t0) / 1000;
      const stats = await load.stats(true);
      levels.push({
        fraction,
        deliveredPerSec: Math.round((sent * load.total) / seconds),
        p50ms: ms(stats.hist.quantile(0.5)),
        p99ms: ms(stats.hist.quantile(0.99)),
        samples: stats.hist.total,
      });
    }
    const { counters } = await load.stats();
    return {
      nodes: 2,
      clients: load.total,
      deliveredPerSec: Math.round(deliveredPerSec),
      publishedPerSec: Math.round(publishRate),
      p50msAtMax: ms(atMax.hist.quantile(0.5)),
      p99msAtMax: ms(atMax.hist.quantile(0.99)),
      half: levels.find((l) => l.fraction === 0.5) ?? levels[0]!,
      levels,
      delivered: counters.frames,
      expected: published * load.total,
      errors: counters.errors + counters.closed,
      cpuAtMax,
      serverUsPerMsg: Math.round(((cpuAtMax.servers! / 100) * 1e9) / deliveredPerSec) / 1000,
      ...(profile && { profile }),
    };
  } finally {
    progress.step(`${system}: stopping`);
    await fleet?.stop();
    await publisher?.call('close', null, 10_000).catch(() => undefined);
    await publisher?.stop();
    await nodes.stop();
  }
}
