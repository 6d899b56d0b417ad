import {
  decodeValues,
  encodeClientFrame,
  FrameType,
  parseServerFrame,
  PROTOCOL_VERSION,
  type ServerFrame,
} from '@roomfabric/protocol';
import WebSocket from 'ws';

/** One lightweight protocol client of a swarm: what it received, in order. */
export interface SwarmClient {
  ws: WebSocket;
  url: string;
  socketId: string;
  nodeId: string;
  /** Every EVENT and MOVED frame, in arrival order. */
  log: Array<
    | { kind: 'event'; event: string; data: unknown; room: string | null }
    | { kind: 'moved'; from: string; to: string }
  >;
  join(room: string): Promise<void>;
  close(): void;
}

/**
 * Many protocol-level clients with little overhead per client (no SDK, no reconnect),
 * for cluster tests with thousands of members.
 */
export async function openSwarm(
  urls: readonly string[],
  count: number,
  concurrency = 200,
): Promise<SwarmClient[]> {
  const clients: SwarmClient[] = new Array(count);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      clients[i] = await openOne(urls[i % urls.length]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  return clients;
}

function openOne(url: string): Promise<SwarmClient> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let nextId = 1;
    const pending = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
    const client: SwarmClient = {
      ws,
      url,
      socketId: '',
      nodeId: '',
      log: [],
      join(room) {
        const id = nextId++;
        return new Promise<void>((res, rej) => {
          pending.set(id, { resolve: res, reject: rej });
          ws.send(encodeClientFrame({ type: FrameType.JOIN, id, room }));
        });
      },
      close: () => ws.terminate(),
    };
    ws.on('open', () =>
      ws.send(
        encodeClientFrame({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: null }),
      ),
    );
    ws.on('error', reject);
    ws.on('message', (data: Buffer) => {
      for (const value of decodeValues(data)) {
        const frame: ServerFrame = parseServerFrame(value);
        switch (frame.type) {
          case FrameType.HELLO:
            client.socketId = frame.socketId;
            client.nodeId = frame.nodeId;
            resolve(client);
            break;
          case FrameType.EVENT:
            client.log.push({
              kind: 'event',
              event: frame.event,
              data: frame.data,
              room: frame.room,
            });
            break;
          case FrameType.MOVED:
            client.log.push({ kind: 'moved', from: frame.from, to: frame.to });
            break;
          case FrameType.ACK:
          case FrameType.ERROR: {
            const p = pending.get(frame.id);
            pending.delete(frame.id);
            if (frame.type === FrameType.ACK) p?.resolve();
            else p?.reject(new Error(`${frame.code}: ${frame.message}`));
            break;
          }
          case FrameType.PING:
            ws.send(encodeClientFrame({ type: FrameType.PONG }));
            break;
        }
      }
    });
  });
}

/** Runs `fn` over items with at most `limit` in flight. */
export async function inBatches<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}
