import {
  CloseCode,
  createFrameDecoder,
  encodeClientFrame,
  encodeData,
  ErrorCode,
  FrameType,
  parseServerFrame,
  PROTOCOL_VERSION,
  RoomfabricError,
  type ClientFrame,
  type ConnectRecover,
  type ServerFrame,
} from '@roomfabric/protocol';
import type { WebSocketConstructor, WebSocketLike } from './types.js';

const OPEN = 1;
const decoder = createFrameDecoder({ maxFrameBytes: 64 * 1024 * 1024 });

/** What a link reports to its client. */
export interface LinkHandlers {
  /** Every well-formed frame from the server, in order. */
  frame(frame: ServerFrame): void;
  /** A value that is msgpack but not a known frame (the link stays up). */
  badFrame(err: RoomfabricError): void;
  /**
   * The link is over, once: the server closed it, the network dropped it, or the link
   * gave up on its own (connect timeout, heartbeat, undecodable bytes, auth callback).
   */
  closed(code: number, reason: string, error: RoomfabricError | undefined): void;
}

export interface LinkOptions {
  Impl: WebSocketConstructor;
  url: string;
  /** `auth` as given to `connect()`: a value, or a function called for this attempt. */
  auth: unknown;
  connectTimeoutMs: number;
  /** CONNECT's positions in the rooms the server joins, read when CONNECT is sent. */
  recover?: () => ConnectRecover | null;
}

/**
 * One connection attempt and, if it succeeds, one connection: the WebSocket, the CONNECT
 * frame, decoding, the connect timeout and the heartbeat watchdog. A client makes a new
 * link for every attempt and drops the old one, so nothing from a stale socket leaks in.
 */
export class Link {
  private readonly ws: WebSocketLike | undefined;
  private done = false;
  private upgradeError: RoomfabricError | undefined;
  private lastMessageAt = Date.now();
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly options: LinkOptions,
    private readonly handlers: LinkHandlers,
  ) {
    let ws: WebSocketLike;
    try {
      ws = new options.Impl(options.url);
    } catch (cause) {
      const err = new RoomfabricError(
        ErrorCode.CONNECT_FAILED,
        `cannot connect to ${options.url}`,
        { cause, temporary: true },
      );
      queueMicrotask(() => this.fail(CloseCode.ABNORMAL, err));
      return;
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => void this.sendConnect();
    ws.onmessage = (ev) => this.onMessage(ev.data);
    // A close event follows every error. `ws` (Node) says why an upgrade failed in the
    // error's message, with the HTTP status; browsers tell nothing (the close says 1006).
    ws.onerror = (ev) => {
      const status = upgradeStatus(ev);
      if (status !== undefined && !this.upgradeError) {
        this.upgradeError = new RoomfabricError(
          ErrorCode.UPGRADE_REFUSED,
          `${options.url} answered the WebSocket upgrade with HTTP ${status}${status === 404 ? ' (is the path right? the default is /ws)' : ''}`,
          { temporary: retriedStatus(status), details: { status, url: options.url } },
        );
      }
    };
    ws.onclose = (ev) => this.finish(ev.code, ev.reason, this.upgradeError);
    this.connectTimer = setTimeout(
      () =>
        this.fail(
          CloseCode.ABNORMAL,
          new RoomfabricError(ErrorCode.CONNECT_FAILED, 'connect timed out', { temporary: true }),
        ),
      options.connectTimeoutMs,
    );
  }

  send(frame: ClientFrame): void {
    if (!this.done && this.ws?.readyState === OPEN) this.ws.send(encodeClientFrame(frame));
  }

  /** After HELLO: the server pings every `heartbeatMs`; silence for 2x + 1 s drops the link. */
  connected(heartbeatMs: number): void {
    clearTimeout(this.connectTimer);
    const limit = heartbeatMs * 2 + 1000;
    this.heartbeatTimer = setInterval(
      () => {
        if (Date.now() - this.lastMessageAt > limit) {
          this.fail(
            CloseCode.HEARTBEAT_TIMEOUT,
            new RoomfabricError(ErrorCode.HEARTBEAT_TIMEOUT, 'no message from the server in time', {
              temporary: true,
            }),
          );
        }
      },
      Math.max(50, Math.floor(heartbeatMs / 2)),
    );
  }

  /** Drops a link the client judged broken: closes it and reports it through `closed`. */
  abort(code: number, error: RoomfabricError): void {
    this.fail(code, error);
  }

  /** Closes the link on the client's own decision; `closed` is not called. */
  close(code: number, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.stopTimers();
    this.closeSocket(code, reason);
  }

  private async sendConnect(): Promise<void> {
    let auth: unknown;
    try {
      auth =
        typeof this.options.auth === 'function'
          ? await (this.options.auth as () => unknown)()
          : this.options.auth;
    } catch (cause) {
      this.fail(
        CloseCode.UNAUTHORIZED,
        new RoomfabricError(ErrorCode.UNAUTHORIZED, 'the auth callback failed', { cause }),
      );
      return;
    }
    try {
      encodeData(auth ?? null, 'auth');
    } catch (err) {
      // The same auth would fail again: this is the caller's to fix, not a reason to retry.
      this.fail(CloseCode.UNAUTHORIZED, err as RoomfabricError);
      return;
    }
    this.send({
      type: FrameType.CONNECT,
      version: PROTOCOL_VERSION,
      auth: auth ?? null,
      recover: this.options.recover?.() ?? null,
    });
  }

  private onMessage(raw: unknown): void {
    if (this.done) return;
    this.lastMessageAt = Date.now();
    const bytes = raw instanceof ArrayBuffer ? new Uint8Array(raw) : (raw as Uint8Array);
    let values: unknown[];
    try {
      values = [...decoder.decodeMulti(bytes)];
    } catch (cause) {
      this.fail(
        CloseCode.INVALID_PAYLOAD,
        new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'undecodable message from the server', {
          cause,
        }),
      );
      return;
    }
    for (const value of values) {
      if (this.done) return;
      let frame: ServerFrame;
      try {
        frame = parseServerFrame(value);
      } catch (err) {
        this.handlers.badFrame(err as RoomfabricError);
        continue;
      }
      this.handlers.frame(frame);
    }
  }

  /** The link gives up on its own: close the socket and report it. */
  private fail(code: number, error: RoomfabricError): void {
    if (this.done) return;
    this.closeSocket(code === CloseCode.ABNORMAL ? CloseCode.NORMAL : code, error.code);
    this.finish(code, error.code, error);
  }

  private finish(code: number, reason: string, error: RoomfabricError | undefined): void {
    if (this.done) return;
    this.done = true;
    this.stopTimers();
    this.handlers.closed(code, reason, error);
  }

  private stopTimers(): void {
    clearTimeout(this.connectTimer);
    clearInterval(this.heartbeatTimer);
  }

  private closeSocket(code: number, reason: string): void {
    const ws = this.ws;
    if (!ws || ws.readyState > OPEN) return;
    try {
      ws.close(code, reason);
    } catch {
      // Closing a socket that is still connecting may throw in some implementations.
    }
  }
}

/** The HTTP status of a refused upgrade, from `ws`'s error event ("Unexpected server response: 404"). */
function upgradeStatus(ev: unknown): number | undefined {
  const message = (ev as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return undefined;
  const match = /Unexpected server response: (\d{3})/.exec(message);
  return match ? Number(match[1]) : undefined;
}

/**
 * Whether a refused upgrade is worth retrying: 5xx (a proxy or an edge restarting), 408
 * and 429. Any other 4xx (a wrong path, a proxy refusing the client) fails the same way
 * every time, so the client stops.
 */
export function retriedStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}
