import { Decoder } from '@msgpack/msgpack';
import { Histogram } from '../histogram.js';
import { readMicros, TS_DIGITS } from '../payload.js';
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
}

/** Per-connection state of a load client. */
export class LoadClient {
  readonly conn: RawWebSocket;
  frameLen = 1;
  tsOffset = 0;
  nextId = 1;
  /** Called once on HELLO (Roomfabric) or the namespace CONNECT (Socket.IO). */
  onReady: (() => void) | undefined;
  /** Answers of this client's requests by id. */
  readonly waiting = new Map<number, (err: string | null) => void>();

  constructor(driver: Driver) {
    this.conn = new RawWebSocket(driver, driver.prefix[0]!, driver.prefix[1]!);
    this.conn.state = this;
  }

  /** Sends a request frame and resolves with its answer (an ERROR frame rejects). */
  request(id: number, frame: Uint8Array | string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (err) => (err === null ? resolve() : reject(new Error(err))));
      this.conn.send(frame, typeof frame === 'string' ? 1 : 2);
    });
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
  };
  hist = new Histogram();
  lastError = '';
  abstract readonly prefix: readonly [number, number];

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
    // The first frame of a coalesced message is its oldest: a conservative sample.
    if (headLen >= client.tsOffset + TS_DIGITS) {
      this.hist.record(now - readMicros(head, client.tsOffset));
    }
    this.check();
  }

  abstract onOther(conn: RawWebSocket, opcode: number, payload: Buffer): void;

  onClose(): void {
    this.counters.closed++;
    this.check();
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
            client.onReady?.();
            client.onReady = undefined;
            break;
          case 5: // EVENT mixed with other frames: counted, not sampled
            this.counters.frames++;
            break;
          case 6: // ACK
            this.counters.acks++;
            client.waiting.get(frame[1] as number)?.(null);
            client.waiting.delete(frame[1] as number);
            break;
          case 7: {
            // ERROR
            const id = frame[1] as number;
            this.error(`${String(frame[2])}: ${String(frame[3])}`);
            client.waiting.get(id)?.(String(frame[2]));
            client.waiting.delete(id);
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
    else if (text.startsWith('40')) {
      client.onReady?.();
      client.onReady = undefined;
    } else if (text === '2')
      conn.send('3', 1); // engine.io ping -> pong
    else if (text.startsWith('43')) {
      // the answer to an emitWithAck: 43<id>[...]
      const id = parseInt(text.slice(2), 10);
      this.counters.acks++;
      client.waiting.get(id)?.(null);
      client.waiting.delete(id);
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
