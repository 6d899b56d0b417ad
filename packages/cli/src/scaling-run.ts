import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { RoomfabricServer } from '@roomfabric/server';
import { startEdge, type EdgeHandle } from '@roomfabric/testkit';
import { fmt, type ScalingRun } from './scaling-chart.js';
import type { LoadCommand, LoadReport } from './scaling-load.js';

/** What every run of `roomfabric scaling` shares. */
export interface ScalingSettings {
  clients: number;
  rooms: string[];
  messages: number;
  repeat: number;
  payload: string;
  timeoutMs: number;
  nats: string;
  natsPid: number | undefined;
  redis: string;
  /** The backend that publishes the bursts. */
  publisher: RoomfabricServer;
}

const now = () => performance.timeOrigin + performance.now();

/**
 * One run: starts `n` edges, connects the clients (load worker), sends a warm-up burst,
 * then `repeat` measured bursts, and keeps the one with the median total rate.
 */
export async function runEdges(
  n: number,
  s: ScalingSettings,
  print: (line: string) => void,
): Promise<ScalingRun> {
  const args = ['--policy', 'open', '--insecure', '--heartbeat-ms', '600000'];
  const nodes: EdgeHandle[] = [];
  let load: ChildProcess | undefined;
  try {
    for (let i = 0; i < n; i++) {
      nodes.push(await startEdge({ nats: s.nats, redis: s.redis, nodeId: `n${i + 1}`, args }));
    }
    load = fork(new URL('./scaling-load.js', import.meta.url), [], { stdio: 'inherit' });
    const ask = request(load);
    const frameBytes = eventFrameBytes('tick', s.payload.length, s.rooms[0]!.length);
    const urls = nodes.map((e) => e.url);
    const connected = await ask(
      { type: 'connect', urls, clients: s.clients, rooms: s.rooms, frameBytes },
      'connected',
      60_000,
    );
    print(`  clients per node: ${JSON.stringify(connected.perNode)}`);
    // Members per room, as the load worker assigned them: client i is in room (i / n) % R.
    const perRoom = s.rooms.map(() => 0);
    for (let i = 0; i < s.clients; i++) perRoom[Math.floor(i / n) % s.rooms.length]!++;
    const burst = async (count: number, measured: boolean): Promise<ScalingRun> => {
      let expected = 0;
      for (let m = 0; m < count; m++) expected += perRoom[m % s.rooms.length]!;
      const busBefore = await Promise.all(nodes.map(busIn));
      const cpuBefore = nodes.map((e) => cpuSeconds(e.pid));
      const others = [cpuSeconds(load!.pid), cpuSeconds(s.natsPid), process.cpuUsage()] as const;
      await ask({ type: 'measure', expected, timeoutMs: s.timeoutMs }, 'armed', 5000);
      const done = ask(undefined, 'measured', s.timeoutMs + 5000);
      const t0 = now();
      const sends: Promise<void>[] = [];
      for (let m = 0; m < count; m++) {
        sends.push(s.publisher.to(s.rooms[m % s.rooms.length]!).emit('tick', s.payload));
      }
      await Promise.all(sends);
      const published = now();
      const result = await done;
      const busAfter = await Promise.all(nodes.map(busIn));
      let last = t0;
      const run: ScalingRun = {
        edges: n,
        clients: s.clients,
        messages: count,
        seconds: 0,
        nodes: nodes.map((edge, i) => {
          const got = result.perNode[edge.nodeId] ?? { received: 0, firstAt: t0, lastAt: t0 };
          last = Math.max(last, got.lastAt);
          const cpu = diff(cpuSeconds(edge.pid), cpuBefore[i]);
          return {
            node: edge.nodeId,
            received: got.received,
            rate: 0, // over the run's window, below
            busIn: busAfter[i]! - busBefore[i]!,
            ...(cpu !== undefined && { cpuSeconds: cpu }),
          };
        }),
        totalRate: 0,
        complete: result.complete,
      };
      run.seconds = Math.max(1e-3, (last - t0) / 1000);
      for (const x of run.nodes) x.rate = x.received / run.seconds;
      run.totalRate = run.nodes.reduce((sum, x) => sum + x.received, 0) / run.seconds;
      if (measured) {
        const clientsCpu = diff(cpuSeconds(load!.pid), others[0]);
        const natsCpu = diff(cpuSeconds(s.natsPid), others[1]);
        const pub = process.cpuUsage(others[2]);
        print(
          `  burst: ${fmt(expected)} frames in ${run.seconds.toFixed(2)} s = ${fmt(run.totalRate)} msgs/s` +
            ` (published in ${((published - t0) / 1000).toFixed(2)} s)` +
            (result.complete ? '' : ' TIMED OUT: not every frame arrived') +
            `; CPU s: edges ${run.nodes.map((x) => x.cpuSeconds?.toFixed(2) ?? '?').join('+')}` +
            `, clients ${clientsCpu?.toFixed(2) ?? '?'}, nats ${natsCpu?.toFixed(2) ?? '?'}` +
            `, publisher ${((pub.user + pub.system) / 1e6).toFixed(2)}`,
        );
      }
      return run;
    };
    await burst(Math.max(1, Math.round(s.messages / 5)), false); // warm-up: JIT, buffers
    const samples: ScalingRun[] = [];
    for (let r = 0; r < s.repeat; r++) samples.push(await burst(s.messages, true));
    const sorted = [...samples].sort((a, b) => a.totalRate - b.totalRate);
    return { ...sorted[Math.floor(sorted.length / 2)]!, samples };
  } finally {
    load?.send({ type: 'close' } satisfies LoadCommand);
    await Promise.all(nodes.map((e) => e.stop().catch(() => undefined)));
    load?.kill();
  }
}

/** Sends a command (if any) and waits for the worker's report of type `type`. */
function request(child: ChildProcess) {
  return <T extends LoadReport['type']>(
    command: LoadCommand | undefined,
    type: T,
    timeoutMs: number,
  ): Promise<Extract<LoadReport, { type: T }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(new Error(`load worker: no "${type}" in ${timeoutMs} ms`)),
        timeoutMs,
      );
      const onMessage = (report: LoadReport) => {
        if (report.type === 'failed') finish(new Error(`load worker: ${report.message}`));
        else if (report.type === type)
          finish(undefined, report as Extract<LoadReport, { type: T }>);
      };
      const onExit = (code: number | null) => finish(new Error(`load worker exited (${code})`));
      const finish = (err?: Error, report?: Extract<LoadReport, { type: T }>) => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(report!);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      if (command) child.send(command);
    });
}

async function busIn(edge: EdgeHandle): Promise<number> {
  return Number((await edge.stats()).busIn ?? 0);
}

/** Bytes of `[5, event, "<payload>", "<room>", 0]` in msgpack, ASCII strings. */
function eventFrameBytes(event: string, payload: number, room: number): number {
  const str = (len: number) => len + (len < 32 ? 1 : len < 256 ? 2 : len < 65_536 ? 3 : 5);
  return 1 + 1 + str(event.length) + str(payload) + str(room) + 1;
}

/** User + system CPU seconds of a process, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

function diff(after: number | undefined, before: number | undefined): number | undefined {
  return after === undefined || before === undefined ? undefined : after - before;
}
