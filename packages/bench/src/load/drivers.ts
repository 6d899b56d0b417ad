import { Decoder } from '@msgpack/msgpack';
import { Histogram } from '../histogram.js';
import { nowMicros, readMicros, TS_DIGITS } from '../payload.js';
import { RawWebSocket, type WsDriver } from './raw-ws.js';

/** Which server a load client speaks to. */
export type Proto = 'rf' | 'sio' | 'plain';

/** Counters of one load process; summed by the coordinator. */
export interface LoadCounters {
  /** Benchmark events received (frames, not WebSocket messages). */
  frames: number;
  /** WebSocket messages that carried them. */
  messages: number;
  acks: number;
  moved: number;
  /** Unexpected input: error frames, messages of the wrong size, failed connects. */
  errors: number;
  /** Connections the server closed or lost. */
  closed: number;
  /** Failover: clients connected to another node and back in all their rooms. */
  rejoins: number;
  /** Failover: clients that got a benchmark event after such a rejoin. */
  resumed: number;
}

/**
 * Per-client state of a load client: its current connection and, for clients that fail
 * over (see the worker's `failover`), what happened to it since it lost a node.
 */
export class LoadClient {
  conn: RawWebSocket;
  frameLen = 1;
  tsOffset = 0;
  nextId = 1;
  /** Called once on HELLO (Roomfabric) or the namespace CONNECT (Socket.IO). */
  onReady: (() => void) | undefined;
  /** Called instead of `onReady` when the connection closes before it was ready. */
  onAbort: ((err: Error) => void) | undefined;
  /** Answers of this client's requests by id. */
  private readonly waiting = new Map<number, (err: string | null) => void>();
  /** Called after the current connection closed (its pending requests have failed). */
  onLost: (() => void) | undefined;
  /** Benchmark events this client received, over all its connections. */
  frames = 0;
  /** Monotonic us when it first lost its connection (0: never). */
  lostAt = 0;
  /** Monotonic us when it was back in all its rooms on another connection (0: not yet). */
  rejoinedAt = 0;
  /** Monotonic us of its first event after `rejoinedAt` (0: none yet). */
  resumedAt = 0;

  constructor(private readonly driver: Driver) {
    this.conn = this.renew();
  }

  /** A fresh connection object for the next connect (a reconnect starts from scratch). */
  renew(): RawWebSocket {
    this.conn = new RawWebSocket(this.driver, this.driver.prefix[0]!, this.driver.prefix[1]!);
    this.conn.state = this;
    return this.conn;
  }

  /** The handshake was answered (HELLO, or Socket.IO's CONNECT). */
  ready(): void {
    const onReady = this.onReady;
    this.onReady = this.onAbort = undefined;
    onReady?.();
  }

  /** Sends a request frame and resolves with its answer (an ERROR frame rejects). */
  request(id: number, frame: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.expect(id, (err) => (err === null ? resolve() : reject(new Error(err))));
      this.conn.send(frame, typeof frame === 'string' ? 1 : 2);
    });
  }

  /**
   * Waits for the answer to request `id` (`err` null: acked), called in the turn it is read.
   * Until every answer is in, a server that packs several frames in one message (an edge
   * writes a turn's frames as one) may put an answer after events: such messages are then
   * decoded whole instead of counted as events only.
   */
  expect(id: number, answered: (err: string | null) => void): void {
    this.waiting.set(id, answered);
    if (this.driver.packsFrames) this.conn.fast = false;
  }

  /** The answer to request `id` (an ACK, or an ERROR's code). */
  answer(id: number, err: string | null): void {
    const answered = this.waiting.get(id);
    if (!answered) return;
    this.waiting.delete(id);
    if (this.waiting.size === 0) this.conn.fast = true;
    answered(err);
  }

  /** The connection closed: every request waiting fails. */
  failRequests(): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    this.conn.fast = true;
    for (const answered of all) answered('connection closed');
  }
}

const PONG = Uint8Array.of(0x91, 0x09);
/** One decoder for the process (decodeMulti() would build one per message). */
const decoder = new Decoder();

/** Counts and samples one protocol's messages for every connection of a load process. */
export abstract class Driver implements WsDriver {
  readonly counters: LoadCounters = {
    frames: 0,
    messages: 0,
    acks: 0,
    moved: 0,
    errors: 0,
    closed: 0,
    rejoins: 0,
    resumed: 0,
  };
  hist = new Histogram();
  lastError = '';
  abstract readonly prefix: readonly [number, number];
  /** Whether the server packs several frames (answers and events) in one message. */
  readonly packsFrames: boolean = false;

  /** `check` runs after every counted message (the process's waiters). */
  constructor(protected readonly check: () => void) {}

  onFast(conn: RawWebSocket, length: number, head: Buffer, headLen: number, now: number): void {
    const client = conn.state as LoadClient;
    const frames = length / client.frameLen;
    if (!Number.isInteger(frames)) {
      this.error(
        `a ${length}-byte message is not a whole number of ${client.frameLen}-byte frames`,
      );
      return;
    }
    this.counters.frames += frames;
    this.counters.messages++;
    client.frames += frames;
    if (client.rejoinedAt > 0 && client.resumedAt === 0) this.resumed(client, now);
    // The first frame of a coalesced message is its oldest: a conservative sample.
    if (headLen >= client.tsOffset + TS_DIGITS) {
      this.hist.record(now - readMicros(head, client.tsOffset));
    }
    this.check();
  }

  abstract onOther(conn: RawWebSocket, opcode: number, payload: Buffer): void;

  onClose(conn: RawWebSocket): void {
    this.counters.closed++;
    const client = conn.state as LoadClient;
    // A connection replaced by a newer one says nothing about the client any more.
    if (client.conn === conn) {
      client.failRequests();
      client.onAbort?.(new Error('connection closed before the handshake answer'));
      client.onReady = client.onAbort = undefined;
      client.onLost?.();
    }
    this.check();
  }

  /** A failed-over client got its first event since it rejoined. */
  resumed(client: LoadClient, now: number): void {
    client.resumedAt = Math.max(now, client.rejoinedAt);
    this.counters.resumed++;
  }

  error(message: string): void {
    this.counters.errors++;
    this.lastError = message;
    this.check();
  }
}

/** Roomfabric: binary msgpack frames, several per message (docs/protocol.md). */
export class RoomfabricDriver extends Driver {
  readonly prefix = [0x95, 0x05] as const; // fixarray(5), EVENT
  override readonly packsFrames = true;

  onOther(conn: RawWebSocket, opcode: number, payload: Buffer): void {
    if (opcode !== 2) {
      if (opcode === 1) this.error('text message from an edge');
      return; // close, ping, pong
    }
    const client = conn.state as LoadClient;
    try {
      for (const value of decoder.decodeMulti(payload)) {
        const frame = value as unknown[];
        switch (frame[0]) {
          case 1: // HELLO
            client.ready();
            break;
          case 5: // EVENT mixed with other frames: counted, not sampled
            this.counters.frames++;
            client.frames++;
            if (client.rejoinedAt > 0 && client.resumedAt === 0) this.resumed(client, nowMicros());
            break;
          case 6: // ACK
            this.counters.acks++;
            client.answer(frame[1] as number, null);
            break;
          case 7: {
            // ERROR
            const id = frame[1] as number;
            this.error(`${String(frame[2])}: ${String(frame[3])}`);
            client.answer(id, String(frame[2]));
            break;
          }
          case 8: // PING
            conn.send(PONG);
            break;
          case 10: // MOVED
            this.counters.moved++;
            break;
        }
      }
    } catch (err) {
      this.error(`undecodable message: ${String(err)}`);
    }
    this.check();
  }
}

/** Socket.IO over engine.io v4: text packets, one per WebSocket message. */
export class SocketIoDriver extends Driver {
  readonly prefix = [0x34, 0x32] as const; // "42": message, event

  onOther(conn: RawWebSocket, opcode: number, payload: Buffer): void {
    if (opcode !== 1) return;
    const text = payload.toString();
    const client = conn.state as LoadClient;
    if (text.startsWith('0'))
      conn.send('40', 1); // engine.io open -> connect to "/"
    else if (text.startsWith('40')) client.ready();
    else if (text === '2')
      conn.send('3', 1); // engine.io ping -> pong
    else if (text.startsWith('43')) {
      // the answer to an emitWithAck: 43<id>[...]
      const id = parseInt(text.slice(2), 10);
      this.counters.acks++;
      client.answer(id, null);
      this.check();
    } else if (text.startsWith('41') || text.startsWith('44')) this.error(`server said ${text}`);
    else if (text.startsWith('42')) this.error(`unexpected event ${text.slice(0, 60)}`);
  }
}

/** A plain ws server: binary messages, the same event frames as Roomfabric, no handshake. */
export class PlainDriver extends Driver {
  readonly prefix = [0x95, 0x05] as const;

  onOther(_conn: RawWebSocket, opcode: number): void {
    if (opcode === 1 || opcode === 2) this.error('unexpected message from the plain server');
  }
}

/** The driver for a protocol. */
export function createDriver(proto: Proto, check: () => void): Driver {
  if (proto === 'rf') return new RoomfabricDriver(check);
  if (proto === 'sio') return new SocketIoDriver(check);
  return new PlainDriver(check);
}
