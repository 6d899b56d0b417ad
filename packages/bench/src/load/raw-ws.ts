import { connect, type Socket } from 'node:net';

/*
 * A WebSocket client on a raw TCP socket, for load generation: the RFC 6455 handshake done
 * by hand, and a streaming frame parser that never copies or decodes a payload it does not
 * need. A message whose first two bytes are the "fast prefix" (an event of the benchmark)
 * is only measured: its length, and its first HEAD_BYTES bytes (where the timestamp is).
 * Any other message (handshake answers, acks, pings, moves) is captured whole and handed
 * to the protocol driver. Client frames are masked with the zero key (RFC 6455 5.3 lets
 * the key be any value; servers only unmask), so payloads are written as they are.
 */

/** Bytes kept from the start of a fast-path message. */
export const HEAD_BYTES = 40;

/** What a protocol driver does with the messages of one connection. */
export interface WsDriver {
  /** A message that starts with the fast prefix: `length` bytes, the first ones in `head`. */
  onFast(conn: RawWebSocket, length: number, head: Buffer, headLen: number, now: number): void;
  /** Any other message (opcode 1, 2, 8, 9 or 10), whole. */
  onOther(conn: RawWebSocket, opcode: number, payload: Buffer): void;
  /** The TCP connection closed (or failed). */
  onClose(conn: RawWebSocket, hadError: boolean): void;
}

const HANDSHAKE_KEY = 'cm9vbWZhYnJpYy1iZW5jaA==';
/** Every socket of the process reads into this buffer; a read is parsed before the next. */
const READ_BUFFER = Buffer.alloc(256 * 1024);
const IN_HEADER = 0;
const IN_PAYLOAD = 1;
const UNDECIDED = 0;
const FAST = 1;
const FULL = 2;

/** Monotonic microseconds, read once per TCP chunk. */
function micros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export class RawWebSocket {
  /** The driver's per-connection state. */
  state: unknown;
  open = false;
  /** Whether a message with the fast prefix is only measured (else it is captured whole). */
  fast = true;
  private socket: Socket | undefined;
  private readonly hdr = Buffer.alloc(14);
  private hdrLen = 0;
  private phase = IN_HEADER;
  private length = 0;
  private remaining = 0;
  private opcode = 0;
  private mode = UNDECIDED;
  private readonly head = Buffer.alloc(HEAD_BYTES);
  private headLen = 0;
  private full: Buffer | undefined;

  constructor(
    private readonly driver: WsDriver,
    private readonly prefix0: number,
    private readonly prefix1: number,
  ) {}

  /** Opens the TCP connection and does the upgrade; resolves once the server said 101. */
  connect(url: string, timeoutMs = 20_000): Promise<void> {
    const u = new URL(url);
    return new Promise((resolve, reject) => {
      let handshake: Buffer | undefined = Buffer.alloc(0);
      const fail = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(() => fail(new Error(`no upgrade from ${url}`)), timeoutMs);
      // `onread` with one buffer shared by every socket of the process: no Buffer and no
      // stream machinery per read, the cheapest way Node has to take bytes off a socket.
      const socket = connect({
        host: u.hostname,
        port: Number(u.port),
        onread: {
          buffer: READ_BUFFER,
          callback: (nread: number, buf: Uint8Array) => {
            if (handshake === undefined) {
              this.onData(buf as Buffer, nread);
              return true;
            }
            handshake = Buffer.concat([handshake, buf.subarray(0, nread)]);
            const end = handshake.indexOf('\r\n\r\n');
            if (end < 0) return true;
            clearTimeout(timer);
            const head = handshake;
            handshake = undefined;
            if (!head.toString('latin1', 0, 12).startsWith('HTTP/1.1 101')) {
              fail(new Error(`upgrade refused by ${url}: ${head.toString('latin1', 0, end)}`));
              return false;
            }
            this.open = true;
            resolve();
            if (head.length > end + 4) {
              const rest = head.subarray(end + 4);
              this.onData(rest, rest.length);
            }
            return true;
          },
        },
      });
      this.socket = socket;
      socket.setNoDelay(true);
      socket.on('close', (hadError) => {
        const wasOpen = this.open;
        this.open = false;
        if (wasOpen) this.driver.onClose(this, hadError);
      });
      socket.on('error', (err) => {
        if (!this.open) fail(err);
      });
      socket.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${HANDSHAKE_KEY}\r\n` +
          `Sec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
  }

  /** Sends one binary (opcode 2) or text (opcode 1) message. */
  send(payload: Uint8Array | string, opcode = 2): void {
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    const n = body.length;
    const headerLen = n < 126 ? 6 : n < 0x10000 ? 8 : 14;
    const frame = Buffer.allocUnsafe(headerLen + n);
    frame[0] = 0x80 | opcode;
    if (n < 126) frame[1] = 0x80 | n;
    else if (n < 0x10000) {
      frame[1] = 0x80 | 126;
      frame.writeUInt16BE(n, 2);
    } else {
      frame[1] = 0x80 | 127;
      frame.writeUInt32BE(0, 2);
      frame.writeUInt32BE(n, 6);
    }
    frame.fill(0, headerLen - 4, headerLen); // zero masking key
    frame.set(body, headerLen);
    this.socket?.write(frame);
  }

  /** Closes the TCP connection at once. */
  destroy(): void {
    this.socket?.destroy();
  }

  /** Ends the connection politely (FIN); resolves when the socket has closed. */
  end(): Promise<void> {
    const socket = this.socket;
    if (!socket || socket.destroyed) return Promise.resolve();
    return new Promise((resolve) => {
      socket.once('close', () => resolve());
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  }

  private onData(chunk: Buffer, n: number): void {
    const now = micros();
    let i = 0;
    while (i < n) {
      if (this.phase === IN_HEADER) {
        while (this.hdrLen < 2 && i < n) this.hdr[this.hdrLen++] = chunk[i++]!;
        if (this.hdrLen < 2) return;
        const len7 = this.hdr[1]! & 0x7f;
        const need = len7 < 126 ? 2 : len7 === 126 ? 4 : 10;
        while (this.hdrLen < need && i < n) this.hdr[this.hdrLen++] = chunk[i++]!;
        if (this.hdrLen < need) return;
        this.length =
          len7 < 126 ? len7 : len7 === 126 ? this.hdr.readUInt16BE(2) : this.hdr.readUInt32BE(6);
        this.opcode = this.hdr[0]! & 0x0f;
        this.hdrLen = 0;
        this.headLen = 0;
        // Control frames and fragments are rare: always captured whole.
        this.mode = this.opcode >= 8 || (this.hdr[0]! & 0x80) === 0 ? FULL : UNDECIDED;
        if (this.mode === FULL) this.full = Buffer.allocUnsafe(this.length);
        this.remaining = this.length;
        if (this.length === 0) {
          this.complete(now);
          continue;
        }
        this.phase = IN_PAYLOAD;
      }
      const take = Math.min(this.remaining, n - i);
      const pos = this.length - this.remaining;
      if (this.mode === FULL) {
        chunk.copy(this.full!, pos, i, i + take);
      } else {
        if (pos < HEAD_BYTES) {
          const c = Math.min(take, HEAD_BYTES - pos);
          chunk.copy(this.head, pos, i, i + c);
          this.headLen = pos + c;
        }
        if (this.mode === UNDECIDED && (this.headLen >= 2 || take === this.remaining)) {
          if (
            this.fast &&
            this.headLen >= 2 &&
            this.head[0] === this.prefix0 &&
            this.head[1] === this.prefix1
          ) {
            this.mode = FAST;
          } else {
            this.mode = FULL;
            this.full = Buffer.allocUnsafe(this.length);
            this.head.copy(this.full, 0, 0, pos); // bytes of earlier chunks (at most 1)
            chunk.copy(this.full, pos, i, i + take);
          }
        }
      }
      i += take;
      this.remaining -= take;
      if (this.remaining === 0) this.complete(now);
    }
  }

  private complete(now: number): void {
    this.phase = IN_HEADER;
    if (this.mode === FAST) {
      this.driver.onFast(this, this.length, this.head, this.headLen, now);
      return;
    }
    const payload = this.full ?? Buffer.alloc(0);
    this.full = undefined;
    if (this.opcode === 9) this.send(payload, 10); // ping -> pong
    this.driver.onOther(this, this.opcode, payload);
  }
}
