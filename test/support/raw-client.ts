import {
  decodeValues,
  encodeClientFrame,
  FrameType,
  parseServerFrame,
  PROTOCOL_VERSION,
  type ClientFrame,
  type ServerFrame,
} from '@roomfabric/protocol';
import { encode } from '@msgpack/msgpack';
import WebSocket from 'ws';

/**
 * A protocol-level client for tests: sends exactly the bytes it is told to and records
 * every frame and the close, so tests can check what the edge answers to bad input.
 */
export class RawClient {
  readonly frames: ServerFrame[] = [];
  closed: { code: number; reason: string } | undefined;
  messages = 0;
  private readonly waiters: Array<() => void> = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.messages++;
      for (const value of decodeValues(data)) this.frames.push(parseServerFrame(value));
      this.wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a WebSocket; with `handshake` (default) also sends CONNECT and waits for HELLO. */
  static async open(url: string, handshake = true, auth: unknown = null): Promise<RawClient> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const client = new RawClient(ws);
    if (handshake) {
      client.send({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth });
      await client.next((f) => f.type === FrameType.HELLO);
    }
    return client;
  }

  send(frame: ClientFrame): void {
    this.ws.send(encodeClientFrame(frame));
  }

  /** Sends arbitrary bytes (or an arbitrary value msgpack-encoded). */
  sendRaw(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  sendValue(value: unknown): void {
    this.ws.send(encode(value));
  }

  get hello(): Extract<ServerFrame, { type: 1 }> {
    return this.frames.find((f) => f.type === FrameType.HELLO) as Extract<ServerFrame, { type: 1 }>;
  }

  /** Waits for the first frame (seen so far or later) that matches. */
  async next(match: (f: ServerFrame) => boolean, timeoutMs = 3000): Promise<ServerFrame> {
    await this.until(() => this.frames.some(match), timeoutMs);
    return this.frames.find(match)!;
  }

  /** Waits for the connection to close and returns its code and reason. */
  async closeEvent(timeoutMs = 3000): Promise<{ code: number; reason: string }> {
    await this.until(() => this.closed !== undefined, timeoutMs);
    return this.closed!;
  }

  async until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new Error('RawClient: timed out waiting');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 25);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Joins a room and waits for the ack (or error) for it. */
  async join(room: string, id: number): Promise<ServerFrame> {
    this.send({ type: FrameType.JOIN, id, room });
    return this.next(
      (f) => (f.type === FrameType.ACK || f.type === FrameType.ERROR) && f.id === id,
    );
  }

  events(name?: string): Array<Extract<ServerFrame, { type: 5 }>> {
    return this.frames.filter(
      (f): f is Extract<ServerFrame, { type: 5 }> =>
        f.type === FrameType.EVENT && (name === undefined || f.event === name),
    );
  }

  errors(): Array<Extract<ServerFrame, { type: 7 }>> {
    return this.frames.filter(
      (f): f is Extract<ServerFrame, { type: 7 }> => f.type === FrameType.ERROR,
    );
  }

  close(): void {
    this.ws.close();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
