import { encode } from '@msgpack/msgpack';
import { serveRequests, sendEvent } from '../child.js';
import { DATA_BYTES, rfShape, sioShape } from '../payload.js';
import { createDriver, LoadClient, type Driver, type LoadCounters, type Proto } from './drivers.js';

/*
 * A load-generator process: holds many raw WebSocket clients, counts the frames they get
 * and samples latencies; the coordinator drives it over IPC. One event loop per process,
 * shared with no server.
 */

/** Clients to open: `count` connections to `url`, each joining `rooms` (Roomfabric). */
export interface ClientGroup {
  url: string;
  count: number;
  rooms: string[];
  /** The room this group's events come through (sets the expected frame length). */
  eventRoom?: string;
}

/** Arguments of the `connect` request. */
export interface ConnectArgs {
  proto: Proto;
  groups: ClientGroup[];
  dataBytes?: number;
  /** Connections opened at once. */
  concurrency?: number;
}

/** Arguments of the `joins` request. */
export interface JoinsArgs {
  perClient: number;
  prefix: string;
  /** JOINs in flight per client. */
  window: number;
}

type CounterName = keyof LoadCounters;
interface Waiter {
  counter: CounterName;
  target: number;
  resolve: () => void;
}

const clients: LoadClient[] = [];
const waiters: Waiter[] = [];
let driver: Driver | undefined;
let proto: Proto = 'rf';

function check(): void {
  if (waiters.length === 0 || !driver) return;
  const counters = driver.counters;
  for (let i = waiters.length - 1; i >= 0; i--) {
    const w = waiters[i]!;
    if (counters[w.counter] >= w.target) {
      waiters.splice(i, 1);
      w.resolve();
    }
  }
}

async function connectAll(args: ConnectArgs): Promise<{ connected: number; failed: number }> {
  driver ??= createDriver(args.proto, check);
  proto = args.proto;
  const d = driver;
  const size = args.dataBytes ?? DATA_BYTES;
  const jobs: Array<{ group: ClientGroup }> = [];
  for (const group of args.groups) for (let i = 0; i < group.count; i++) jobs.push({ group });
  let connected = 0;
  let failed = 0;
  let next = 0;
  const progress = setInterval(() => sendEvent('progress', { connected, failed }), 250);
  const one = async (group: ClientGroup): Promise<void> => {
    const client = new LoadClient(d);
    const shape = args.proto === 'sio' ? sioShape(size) : rfShape(group.eventRoom ?? '', size);
    client.frameLen = shape.length;
    client.tsOffset = shape.tsOffset;
    const ready =
      args.proto === 'plain'
        ? Promise.resolve()
        : new Promise<void>((resolve) => (client.onReady = resolve));
    await client.conn.connect(group.url);
    if (args.proto === 'rf') client.conn.send(encode([0, 1, null])); // CONNECT
    await withTimeout(ready, 20_000, `no HELLO/CONNECT answer from ${group.url}`);
    if (args.proto === 'rf') {
      await Promise.all(
        group.rooms.map((room) => {
          const id = client.nextId++;
          return client.request(id, encode([2, id, room]));
        }),
      );
    }
    clients.push(client);
  };
  const lane = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await one(job.group);
        connected++;
      } catch (err) {
        failed++;
        d.error(`connect: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency ?? 64, jobs.length) }, lane));
  clearInterval(progress);
  return { connected, failed };
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Every client sends `perClient` JOINs to rooms of its own, `window` in flight. */
async function joins(args: JoinsArgs): Promise<{ acks: number; failed: number; ms: number }> {
  let acks = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      let k = 0;
      const lane = async (): Promise<void> => {
        while (k < args.perClient) {
          const room = `${args.prefix}:${c}:${k++}`;
          const id = client.nextId++;
          const frame =
            proto === 'sio' ? `42${id}${JSON.stringify(['join', room])}` : encode([2, id, room]);
          try {
            await client.request(id, frame);
            acks++;
          } catch {
            failed++;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(args.window, args.perClient) }, lane));
    }),
  );
  return { acks, failed, ms: performance.now() - started };
}

serveRequests({
  connect: (args: ConnectArgs) => connectAll(args),
  /** Resolves once a counter reaches `target`; rejects after `timeoutMs` with the counts. */
  waitFor: ({
    counter,
    target,
    timeoutMs,
  }: {
    counter: CounterName;
    target: number;
    timeoutMs: number;
  }) => {
    const d = driver!;
    if (d.counters[counter] >= target) return d.counters[counter];
    return withTimeout(
      new Promise<void>((resolve) => waiters.push({ counter, target, resolve })),
      timeoutMs,
      `${counter} stuck at ${d.counters[counter]} of ${target} (last error: ${d.lastError || 'none'})`,
    ).then(() => d.counters[counter]);
  },
  stats: ({ reset }: { reset: boolean }) => {
    const d = driver!;
    const out = { counters: { ...d.counters }, hist: d.hist.toJSON(), lastError: d.lastError };
    if (reset) d.hist = new (d.hist.constructor as new () => typeof d.hist)();
    return out;
  },
  joins: (args: JoinsArgs) => withTimeout(joins(args), 120_000, 'joins took over 120 s'),
  close: async () => {
    await Promise.all(clients.map((c) => c.conn.end()));
    clients.length = 0;
    return null;
  },
});
sendEvent('ready');
