import { encode } from '@msgpack/msgpack';
import { NatsBus } from '@roomfabric/bus';
import { encodeEventFrame } from '@roomfabric/protocol';
import { createServer, type RoomfabricServer } from '@roomfabric/server';
import { Emitter } from '@socket.io/redis-emitter';
import { Redis } from 'ioredis';
import { serveRequests, sendEvent } from './child.js';
import { EVENT, makeData } from './payload.js';

/*
 * The backend that publishes, in a process of its own: Roomfabric's server API
 * (`createServer().to(room).emit`), Socket.IO's counterpart (`@socket.io/redis-emitter`), or
 * for the ceiling a bare NATS publish of the finished frame. Also runs raids and, for ours,
 * reads the index (`count`, `totals`) through the same server API.
 */

/** Which backend API publishes. */
export type PublisherKind = 'rf' | 'sio' | 'ceiling';

/** Arguments of the `init` request. */
export interface PublisherInit {
  kind: PublisherKind;
  nats?: string[];
  redis?: string;
  dataBytes: number;
}

/** Arguments of the `paced` request: `rate` messages/s in bursts of `burst`, for `durationMs`. */
export interface PacedArgs {
  rooms: string[];
  rate: number;
  burst: number;
  durationMs: number;
}

/** The NATS subject the ceiling servers listen on, per room. */
export const ceilingSubject = (room: string): string =>
  `bench.ceiling.${Buffer.from(room).toString('hex')}`;

let publish: (room: string) => Promise<unknown> = () => Promise.reject(new Error('no init'));
let rf: RoomfabricServer | undefined;
let emitter: Emitter | undefined;
let closeAll: () => Promise<unknown> = () => Promise.resolve();

async function init(args: PublisherInit): Promise<null> {
  const size = args.dataBytes;
  if (args.kind === 'rf') {
    const server = await createServer({ nats: args.nats!, redis: args.redis! });
    rf = server;
    publish = (room) => server.to(room).emit(EVENT, makeData(size));
    closeAll = () => server.close();
  } else if (args.kind === 'sio') {
    const redis = new Redis(args.redis!);
    const e = new Emitter(redis);
    emitter = e;
    publish = (room) => {
      e.to(room).emit(EVENT, makeData(size));
      return Promise.resolve();
    };
    closeAll = () => redis.quit();
  } else {
    const bus = await NatsBus.connect({ servers: args.nats!, name: 'bench-ceiling-publisher' });
    publish = (room) =>
      bus.publish(ceilingSubject(room), encodeEventFrame(EVENT, encode(makeData(size)), room, 0));
    closeAll = () => bus.close();
  }
  return null;
}

/** Publishes `n` messages to each room, back to back. */
async function burst({ rooms, n }: { rooms: string[]; n: number }): Promise<number> {
  const sends: Array<Promise<unknown>> = [];
  for (let i = 0; i < n; i++) for (const room of rooms) sends.push(publish(room));
  await Promise.all(sends);
  return sends.length;
}

/** Set by `stopPaced`: the running `paced` publishes no further burst. */
let stopRequested = false;
let wakeUp: (() => void) | undefined;

/**
 * Open loop: bursts on a fixed schedule (drift-corrected), whatever the deliveries do, for
 * `durationMs` or until `stopPaced`.
 */
async function paced(args: PacedArgs): Promise<number> {
  const interval = (args.burst / args.rate) * 1000;
  const start = performance.now();
  let sent = 0;
  stopRequested = false;
  for (let k = 0; ; k++) {
    const due = start + k * interval;
    if (stopRequested || due - start >= args.durationMs) break;
    const wait = due - performance.now();
    if (wait > 0) {
      await new Promise<void>((resolve) => {
        wakeUp = resolve;
        setTimeout(resolve, wait);
      });
      wakeUp = undefined;
      if (stopRequested) break;
    }
    sent += await burst({ rooms: args.rooms, n: args.burst });
  }
  return sent;
}

serveRequests({
  init,
  burst,
  paced,
  /** Roomfabric raid through the server API. */
  raid: ({ from, to }: { from: string; to: string }) => rf!.raid(from, to, { timeoutMs: 120_000 }),
  /** Ends the running `paced` before its next burst (it then answers with what it sent). */
  stopPaced: () => {
    stopRequested = true;
    wakeUp?.();
    return null;
  },
  /** Ours: the index's totals and, when `rooms` are given, each room's count. */
  index: async ({ rooms }: { rooms: string[] }) => ({
    ...(await rf!.totals()),
    counts: await Promise.all(rooms.map((room) => rf!.count(room))),
  }),
  /** The Socket.IO counterpart: move `from`'s sockets with two adapter requests (not atomic). */
  sioMove: ({ from, to }: { from: string; to: string }) => {
    emitter!.in(from).socketsJoin(to);
    emitter!.in(from).socketsLeave(from);
    return null;
  },
  close: async () => {
    await closeAll();
    return null;
  },
});
sendEvent('ready');
