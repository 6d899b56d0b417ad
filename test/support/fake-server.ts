import {
  decodeValues,
  encodeServerFrame,
  FrameType,
  parseClientFrame,
  type ClientFrame,
  type ServerFrame,
} from '@roomfabric/protocol';
import { WebSocketServer, type WebSocket } from 'ws';

/** One connection to the fake server: what the client sent, and a way to answer. */
export interface FakePeer {
  ws: WebSocket;
  frames: ClientFrame[];
  send(frame: ServerFrame): void;
  hello(heartbeatMs?: number): void;
}

/**
 * A scriptable fake edge for client SDK edge cases (as centrifuge-js tests do): the test
 * decides what the "server" answers, or that it answers nothing.
 */
export async function startFakeServer(onConnection: (peer: FakePeer) => void) {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const peers: FakePeer[] = [];
  wss.on('connection', (ws) => {
    const peer: FakePeer = {
      ws,
      frames: [],
      send: (frame) => ws.send(encodeServerFrame(frame)),
      hello: (heartbeatMs = 25_000) =>
        peer.send({
          type: FrameType.HELLO,
          version: 1,
          socketId: `fake-${peers.length}`,
          nodeId: 'fake',
          heartbeatMs,
          maxFrameBytes: 65536,
          maxRoomsPerSocket: 128,
          maxFrameDepth: 32,
        }),
    };
    peers.push(peer);
    ws.on('message', (data: Buffer) => {
      for (const value of decodeValues(data)) peer.frames.push(parseClientFrame(value));
    });
    onConnection(peer);
  });
  const port = (wss.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    peers,
    async [Symbol.asyncDispose]() {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
