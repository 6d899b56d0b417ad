/**
 * The load side of `roomfabric scaling`, run as a child process (`fork`) so that it never
 * shares an event loop with the publisher: many raw protocol clients (no SDK), each in one
 * room, counting the EVENT frames they receive per edge node.
 *
 * Counting is cheap on purpose (the clients share the CPUs with the edges being measured):
 * every benchmark EVENT frame has the same length, so a WebSocket message made only of
 * them is counted by its length; anything else (HELLO, ACK, PING) is decoded.
 */
import {
  decodeValues,
  encodeClientFrame,
  FrameType,
  parseServerFrame,
  PONG_BYTES,
  PROTOCOL_VERSION,
} from '@roomfabric/protocol';
import WebSocket from 'ws';

/** Parent -> worker. */
export type LoadCommand =
  | { type: 'connect'; urls: string[]; clients: number; rooms: string[]; frameBytes: number }
  | { type: 'measure'; expected: number; timeoutMs: number }
  | { type: 'close' };

/** Worker -> parent. */
export type LoadReport =
  | { type: 'connected'; perNode: Record<string, number> }
  | { type: 'armed' }
  | {
      type: 'measured';
      perNode: Record<string, { received: number; firstAt: number; lastAt: number }>;
      complete: boolean;
    }
  | { type: 'failed'; message: string };

interface Counter {
  received: number;
  firstAt: number;
  lastAt: number;
}

const EVENT_HEAD = [0x95, FrameType.EVENT];
let frameBytes = 0;
let counters = new Map<string, Counter>();
let target = Infinity;
let total = 0;
let onTarget: (() => void) | undefined;
const sockets: WebSocket[] = [];

const now = () => performance.timeOrigin + performance.now();
const send = (report: LoadReport) => process.send?.(report);

function count(node: string, frames: number): void {
  if (frames === 0) return;
  const at = now();
  let c = counters.get(node);
  if (!c) counters.set(node, (c = { received: 0, firstAt: at, lastAt: at }));
  c.received += frames;
  c.lastAt = at;
  total += frames;
  if (total >= target) onTarget?.();
}

function openClient(url: string, room: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let node = '';
    let joined = false;
    ws.binaryType = 'nodebuffer';
    ws.on('open', () =>
      ws.send(
        encodeClientFrame({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: null }),
      ),
    );
    ws.on('error', (err) => (joined ? undefined : reject(err)));
    ws.on('close', (code, reason) => {
      if (!joined) reject(new Error(`closed during setup: ${code} ${reason.toString()}`));
    });
    ws.on('message', (data: Buffer) => {
      if (
        frameBytes > 0 &&
        data.length % frameBytes === 0 &&
        data[0] === EVENT_HEAD[0] &&
        data[1] === EVENT_HEAD[1]
      ) {
        count(node, data.length / frameBytes);
        return;
      }
      let events = 0;
      for (const value of decodeValues(data)) {
        const frame = parseServerFrame(value);
        if (frame.type === FrameType.EVENT) events++;
        else if (frame.type === FrameType.PING) ws.send(PONG_BYTES);
        else if (frame.type === FrameType.HELLO) {
          node = frame.nodeId;
          ws.send(encodeClientFrame({ type: FrameType.JOIN, id: 1, room }));
        } else if (frame.type === FrameType.ACK && frame.id === 1) {
          joined = true;
          resolve(node);
        } else if (frame.type === FrameType.ERROR) {
          reject(new Error(`${frame.code}: ${frame.message}`));
        }
      }
      count(node, events);
    });
    sockets.push(ws);
  });
}

async function connectAll(command: Extract<LoadCommand, { type: 'connect' }>): Promise<void> {
  frameBytes = command.frameBytes;
  const perNode: Record<string, number> = {};
  const { urls, rooms, clients } = command;
  let next = 0;
  // Client i goes to edge i % N and room (i / N) % R, so every edge has members of every room.
  const worker = async () => {
    while (next < clients) {
      const i = next++;
      const url = urls[i % urls.length]!;
      const room = rooms[Math.floor(i / urls.length) % rooms.length]!;
      const node = await openClient(url, room);
      perNode[node] = (perNode[node] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: Math.min(100, clients) }, worker));
  send({ type: 'connected', perNode });
}

function measure(command: Extract<LoadCommand, { type: 'measure' }>): void {
  counters = new Map();
  total = 0;
  target = command.expected;
  const done = (complete: boolean) => {
    clearTimeout(timer);
    onTarget = undefined;
    target = Infinity;
    send({ type: 'measured', perNode: Object.fromEntries(counters), complete });
  };
  const timer = setTimeout(() => done(false), command.timeoutMs);
  onTarget = () => done(true);
  send({ type: 'armed' });
}

process.on('message', (command: LoadCommand) => {
  if (command.type === 'connect') {
    connectAll(command).catch((err: unknown) =>
      send({ type: 'failed', message: err instanceof Error ? err.message : String(err) }),
    );
  } else if (command.type === 'measure') {
    measure(command);
  } else {
    for (const ws of sockets) ws.terminate();
    process.disconnect?.();
  }
});
