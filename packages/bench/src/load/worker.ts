import { encode } from '@msgpack/msgpack';
import { serveRequests, sendEvent } from '../child.js';
import { DATA_BYTES, nowMicros, rfShape, sioShape } from '../payload.js';
import { createDriver, LoadClient, type Driver, type LoadCounters, type Proto } from './drivers.js';

/*
 * A load-generator process: holds many raw WebSocket clients, counts the frames they get
 * and samples latencies; the coordinator drives it over IPC. One event loop per process,
 * shared with no server.
 */

/**
 * Clients to open: `count` connections to `url`, each joining `rooms` once connected (a
 * JOIN frame each for Roomfabric, an acknowledged `join` event each for Socket.IO).
 */
export interface ClientGroup {
  url: string;
  count: number;
  rooms: string[];
  /** The room this group's events come through (sets the expected frame length). */
  eventRoom?: string;
  /**
   * Fail over: when the connection closes, connect to the next of these URLs (after `url`,
   * in this order, round and round) and join the same rooms again, as the SDK does with a
   * list of nodes and a Socket.IO app must do by hand. Without it a close is only counted.
   */
  failover?: string[];
}

/**
 * When a failed-over client tries again, for both systems: the Roomfabric SDK's backoff
 * (`packages/client/src/backoff.ts`), attempt k after min(10 s, minDelayMs x 2^k) less up to
 * half of it at random. The SDK's default minDelayMs is 250 (first attempt after 125-250 ms).
 */
export interface FailoverArgs {
  minDelayMs: number;
}

/** What the clients that fail over went through, from the `failover` request. */
export interface FailoverReport {
  /** Clients whose first URL (their home node) is `home`. */
  homed: number;
  /** Of those: lost their connection, are back in every room elsewhere, and received since. */
  lost: number;
  rejoined: number;
  resumed: number;
  /** Benchmark events received by those of `home`, and by every other client. */
  homedFrames: number;
  others: number;
  othersLost: number;
  othersFrames: number;
  /** Reconnect attempts of this process that failed, and the last reason. */
  failedAttempts: number;
  lastFailure: string;
  /**
   * Per client of `home` (with `detail`): monotonic us of each step, 0 when it did not
   * happen. `upgradedAt` and `readyAt` are those of the reconnect that rejoined (the
   * WebSocket upgrade answered, then HELLO / Socket.IO's CONNECT).
   */
  lostAt?: number[];
  upgradedAt?: number[];
  readyAt?: number[];
  rejoinedAt?: number[];
  resumedAt?: number[];
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
  /**
   * When > 0, the rooms are `prefix:0` .. `prefix:(shared - 1)`, shared by the clients:
   * client `c` joins `perClient` consecutive ones from `c * perClient` (mod `shared`).
   */
  shared?: number;
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

/** How a client connects: its URLs (home first) and rooms, kept for its reconnects. */
interface Plan {
  urls: string[];
  rooms: string[];
  /** Index in `urls` of the last node tried. */
  at: number;
  reconnecting: boolean;
  /** The steps of the reconnect that rejoined. */
  steps?: { upgradedAt: number; readyAt: number };
}

const plans = new Map<LoadClient, Plan>();
let failoverArgs: FailoverArgs = { minDelayMs: 250 };
/** Set by `close`: connections that end now are not reconnected. */
let stopping = false;
/** Reconnect attempts that failed (a refused connect to the dead node is one), and why the last did. */
let failedAttempts = 0;
let lastFailure = '';

/** A JOIN frame (Roomfabric) or an acknowledged `join` event (Socket.IO). */
function joinFrame(id: number, room: string): Uint8Array | string {
  return proto === 'sio' ? `42${id}${JSON.stringify(['join', room])}` : encode([2, id, room]);
}

/**
 * Connects `client` to `url` and joins `rooms`, every JOIN in flight at once; resolves when
 * all are acked. `onJoined` runs in the same turn as the last ack (so that an event read
 * right after it counts as "after the rejoin"); `steps`, if given, gets the times of the
 * upgrade and of the handshake's answer.
 */
async function open(
  client: LoadClient,
  url: string,
  rooms: string[],
  onJoined: () => void = () => {},
  steps?: { upgradedAt: number; readyAt: number },
): Promise<void> {
  const conn = client.renew();
  const ready =
    proto === 'plain'
      ? Promise.resolve()
      : new Promise<void>((resolve, reject) => {
          client.onReady = resolve;
          client.onAbort = reject;
        });
  ready.catch(() => undefined);
  try {
    await conn.connect(url);
    if (steps) steps.upgradedAt = nowMicros();
    if (proto === 'rf') conn.send(encode([0, 1, null])); // CONNECT
    await withTimeout(ready, 20_000, `no HELLO/CONNECT answer from ${url}`);
    if (steps) steps.readyAt = nowMicros();
    if (rooms.length === 0) return onJoined();
    await new Promise<void>((resolve, reject) => {
      let left = rooms.length;
      for (const room of rooms) {
        const id = client.nextId++;
        client.expect(id, (err) => {
          if (err !== null) reject(new Error(`join ${room}: ${err}`));
          else if (--left === 0) {
            onJoined();
            resolve();
          }
        });
        conn.send(joinFrame(id, room), proto === 'sio' ? 1 : 2);
      }
    });
  } catch (err) {
    client.onReady = client.onAbort = undefined;
    conn.destroy();
    throw err;
  }
}

/** After a close: the next node of the plan, again and again, with backoff after failures. */
async function reconnect(client: LoadClient, plan: Plan): Promise<void> {
  const d = driver!;
  plan.reconnecting = true;
  if (client.lostAt === 0) client.lostAt = nowMicros();
  for (let attempt = 0; !stopping; attempt++) {
    const base = Math.min(10_000, failoverArgs.minDelayMs * 2 ** attempt);
    const delay = base * (1 - 0.5 * Math.random());
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));
    if (stopping) break;
    plan.at = (plan.at + 1) % plan.urls.length;
    const steps = { upgradedAt: 0, readyAt: 0 };
    try {
      await open(
        client,
        plan.urls[plan.at]!,
        plan.rooms,
        () => {
          if (client.rejoinedAt !== 0) return;
          client.rejoinedAt = nowMicros();
          plan.steps = steps;
          d.counters.rejoins++;
          check();
        },
        steps,
      );
      plan.reconnecting = false;
      return;
    } catch (err) {
      // Refused (the dead node) or dropped: the next node, after a pause.
      failedAttempts++;
      lastFailure = `${plan.urls[plan.at]}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  plan.reconnecting = false;
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
    await open(client, group.url, group.rooms);
    if (group.failover) {
      const plan: Plan = {
        urls: [group.url, ...group.failover],
        rooms: group.rooms,
        at: 0,
        reconnecting: false,
      };
      plans.set(client, plan);
      client.onLost = () => {
        if (!stopping && !plan.reconnecting) void reconnect(client, plan);
      };
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

/** The failed-over clients of node `home` (their first URL), and how the others fared. */
function failover({ home, detail }: { home: string; detail: boolean }): FailoverReport {
  const r: FailoverReport = {
    homed: 0,
    lost: 0,
    rejoined: 0,
    resumed: 0,
    homedFrames: 0,
    others: 0,
    othersLost: 0,
    othersFrames: 0,
    failedAttempts,
    lastFailure,
    ...(detail && { lostAt: [], upgradedAt: [], readyAt: [], rejoinedAt: [], resumedAt: [] }),
  };
  for (const [client, plan] of plans) {
    if (plan.urls[0] !== home) {
      r.others++;
      if (client.lostAt > 0) r.othersLost++;
      r.othersFrames += client.frames;
      continue;
    }
    r.homed++;
    r.homedFrames += client.frames;
    if (client.lostAt > 0) r.lost++;
    if (client.rejoinedAt > 0) r.rejoined++;
    if (client.resumedAt > 0) r.resumed++;
    r.lostAt?.push(client.lostAt);
    r.upgradedAt?.push(plan.steps?.upgradedAt ?? 0);
    r.readyAt?.push(plan.steps?.readyAt ?? 0);
    r.rejoinedAt?.push(client.rejoinedAt);
    r.resumedAt?.push(client.resumedAt);
  }
  return r;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(what)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Every client sends `perClient` JOINs, `window` in flight: to rooms of its own, or to
 * distinct rooms of a shared set (`shared`).
 */
async function joins(args: JoinsArgs): Promise<{ acks: number; failed: number; ms: number }> {
  let acks = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    clients.map(async (client, c) => {
      let k = 0;
      const lane = async (): Promise<void> => {
        while (k < args.perClient) {
          const room = args.shared
            ? `${args.prefix}:${(c * args.perClient + k++) % args.shared}`
            : `${args.prefix}:${c}:${k++}`;
          const id = client.nextId++;
          try {
            await client.request(id, joinFrame(id, room));
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
  /** How failed-over clients retry. */
  failoverPolicy: (args: FailoverArgs) => {
    failoverArgs = args;
    return null;
  },
  failover: (args: { home: string; detail: boolean }) => failover(args),
  close: async () => {
    stopping = true;
    await Promise.all(clients.map((c) => c.conn.end()));
    clients.length = 0;
    return null;
  },
});
sendEvent('ready');
