import {
  headers as natsHeaders,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type PublishOptions as NatsPublishOptions,
  type Subscription,
} from '@nats-io/transport-node';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type {
  Bus,
  BusHandler,
  BusHeaders,
  BusStatus,
  BusSubscription,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
} from './bus.js';
import { connectNats, type NatsBusOptions } from './connect-nats.js';
import { checkQueue, checkSubject, checkTimeout, closedError } from './subject.js';
import { toBusError } from './to-bus-error.js';

export type { NatsBusOptions } from './connect-nats.js';

interface Pending {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly options: NatsPublishOptions | undefined;
}

const DEFAULT_MAX_PENDING_BYTES = 8 * 1024 * 1024;

/**
 * The bus across machines, over one NATS connection (`@nats-io/transport-node`). It
 * reconnects for ever across the server list (and servers the cluster gossips), and
 * nats.js restores every subscription after a reconnect.
 *
 * While the link is down (`status === 'reconnecting'`):
 * - `publish` holds messages in order, up to `maxPendingBytes` (default 8 MiB), and sends
 *   them on reconnect before anything newer; past the bound it rejects with
 *   `RF_BUS_UNAVAILABLE` (temporary). Delivery stays at most once: messages written in
 *   the instant the link died may be lost, and `close()` drops what is held.
 * - `subscribe`, `request` and `flush` reject with `RF_BUS_UNAVAILABLE` (temporary),
 *   since none can be confirmed by the server.
 *
 * After `close()` every call rejects with `RF_BUS_UNAVAILABLE`. Payloads are sent as
 * given: do not change a buffer after passing it to `publish`.
 */
export class NatsBus implements Bus {
  private current: BusStatus = 'connected';
  private closing: Promise<void> | undefined;
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private readonly maxPendingBytes: number;
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  private readonly watching: Promise<void>;
  private readonly onHandlerError: (err: unknown, subject: string) => void;
  private readonly onError: (err: unknown) => void;
  /** The flush that the subscriptions of this turn wait for (see {@link turnFlush}). */
  private flushOfTurn: Promise<void> | undefined;
  /** The SUBs of this turn, written when it ends (see {@link turnFlush}). */
  private opensOfTurn: Array<() => void> = [];

  private constructor(
    /**
     * The NATS connection under this bus, for components that use JetStream on the same
     * link (history, channel store). Do not close it: {@link close} does.
     */
    readonly nc: NatsConnection,
    options: NatsBusOptions,
  ) {
    this.maxPendingBytes = options.maxPendingBytes ?? DEFAULT_MAX_PENDING_BYTES;
    this.onHandlerError =
      options.onHandlerError ??
      ((err) => {
        setImmediate(() => {
          throw err;
        });
      });
    this.onError = options.onError ?? (() => undefined);
    this.watching = this.watch().catch(this.onError);
  }

  /**
   * Connects to the first reachable server of `options.servers`, retrying the list until
   * `connectTimeoutMs`; rejects with `RF_BUS_UNAVAILABLE` (temporary, `details.servers`)
   * past it. Once connected, the bus reconnects for ever.
   *
   * @example
   * const bus = await NatsBus.connect({ servers: ['nats://n1:4222', 'nats://n2:4222'] });
   */
  static async connect(options: NatsBusOptions): Promise<NatsBus> {
    return new NatsBus(await connectNats(options), options);
  }

  get status(): BusStatus {
    return this.current;
  }

  /** `host:port` of the server in use (the last one while reconnecting). */
  get server(): string {
    return this.nc.getServer();
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  async subscribe(
    subject: string,
    handler: BusHandler,
    options: SubscribeOptions = {},
  ): Promise<BusSubscription> {
    this.checkLink();
    checkSubject(subject, true);
    const { queue } = options;
    if (queue !== undefined) checkQueue(queue);
    let active = true;
    const callback = (err: Error | null, msg: Msg): void => {
      if (err) return this.onError(err);
      // The flag makes unsubscribe() take effect at once, even for messages nats.js has
      // already read from the socket.
      if (!active || this.current === 'closed') return;
      try {
        handler(msg.data, msg.subject, msg.reply || undefined, msg.headers && wrap(msg.headers));
      } catch (handlerErr) {
        this.onHandlerError(handlerErr, msg.subject);
      }
    };
    let sub: Subscription | undefined;
    let failed: unknown;
    const open = (): void => {
      if (!active) return;
      try {
        sub = this.nc.subscribe(subject, { queue, callback });
      } catch (err) {
        failed = err;
        active = false;
      }
    };
    const unsubscribe = (): void => {
      if (!active) return;
      active = false;
      if (sub && !this.nc.isClosed()) sub.unsubscribe();
    };
    try {
      // The SUB is written at the end of the turn with the others, then a PING round trip:
      // once it returns, the server holds the interest.
      await this.turnFlush(open);
    } catch (err) {
      unsubscribe();
      throw toBusError(err);
    }
    if (failed !== undefined) throw toBusError(failed);
    return { subject, unsubscribe };
  }

  publish(subject: string, payload: Uint8Array, options?: PublishOptions): Promise<void> {
    const reply = options?.reply;
    try {
      if (this.current === 'closed') throw closedError();
      checkSubject(subject, false);
      if (reply !== undefined) checkSubject(reply, false);
      const natsOptions = toNatsOptions(options);
      if (this.current === 'connected') {
        this.nc.publish(subject, payload, natsOptions);
      } else {
        this.hold({ subject, payload, options: natsOptions });
      }
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(toBusError(err));
    }
  }

  async request(
    subject: string,
    payload: Uint8Array,
    options: RequestOptions = {},
  ): Promise<Uint8Array> {
    const timeoutMs = options.timeoutMs ?? 5000;
    this.checkLink();
    checkSubject(subject, false);
    checkTimeout(timeoutMs);
    try {
      const msg = await this.nc.request(subject, payload, { timeout: timeoutMs });
      return msg.data;
    } catch (err) {
      throw toBusError(err, { subject, timeoutMs });
    }
  }

  /**
   * The subscriptions of one event-loop turn: their SUBs are written together once the
   * turn is over (`setImmediate`), in one socket write with one PING after them, so that a
   * turn that opens 500 rooms costs one write and one round trip, not 500. (nats.js writes
   * what it holds after each callback's microtasks: SUBs made while reading 500 WebSocket
   * frames would be 500 writes.) A subscription asked for after they were sent waits for
   * the next turn's.
   */
  private turnFlush(open: () => void): Promise<void> {
    this.opensOfTurn.push(open);
    this.flushOfTurn ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        this.flushOfTurn = undefined;
        const opens = this.opensOfTurn;
        this.opensOfTurn = [];
        for (const o of opens) o();
        let flushed: Promise<void>;
        try {
          flushed = this.nc.flush();
        } catch (err) {
          flushed = Promise.reject(err);
        }
        flushed.then(resolve, reject);
      });
    });
    return this.flushOfTurn;
  }

  async flush(): Promise<void> {
    this.checkLink();
    try {
      await this.nc.flush();
    } catch (err) {
      throw toBusError(err);
    }
  }

  /**
   * Stops every subscription, sends what was already handed to the connection (when the
   * link is up; held messages are dropped), and closes it. Idempotent.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const wasConnected = this.current === 'connected';
    this.drop();
    this.setStatus('closed');
    this.closing = (async () => {
      if (wasConnected) await this.nc.flush().catch(() => undefined);
      await this.nc.close();
      await this.watching;
    })();
    return this.closing;
  }

  private checkLink(): void {
    if (this.current === 'closed') throw closedError();
    if (this.current === 'reconnecting') {
      throw new RoomfabricError(ErrorCode.BUS_UNAVAILABLE, 'the NATS link is down', {
        temporary: true,
      });
    }
  }

  private hold(message: Pending): void {
    const size =
      message.payload.byteLength + message.subject.length + (message.options?.reply?.length ?? 0);
    if (this.pendingBytes + size > this.maxPendingBytes) {
      throw new RoomfabricError(
        ErrorCode.BUS_UNAVAILABLE,
        'the NATS link is down and the publish buffer is full',
        {
          temporary: true,
          details: { pendingBytes: this.pendingBytes, maxPendingBytes: this.maxPendingBytes },
        },
      );
    }
    this.pending.push(message);
    this.pendingBytes += size;
  }

  private drop(): void {
    this.pending = [];
    this.pendingBytes = 0;
  }

  /** Follows nats.js status events; ends when the connection closes. */
  private async watch(): Promise<void> {
    for await (const s of this.nc.status()) {
      switch (s.type) {
        case 'disconnect':
        case 'reconnecting':
        case 'staleConnection':
          if (this.current === 'connected') this.setStatus('reconnecting');
          break;
        case 'reconnect':
          if (this.current === 'reconnecting') {
            // Held messages go out before anything newer: status flips only after them.
            this.sendHeld();
            this.setStatus('connected');
          }
          break;
        case 'error':
          this.onError(s.error);
          break;
        case 'close':
          this.drop();
          this.setStatus('closed');
          break;
      }
    }
  }

  private sendHeld(): void {
    const held = this.pending;
    this.drop();
    for (const { subject, payload, options } of held) {
      try {
        this.nc.publish(subject, payload, options);
      } catch (err) {
        this.onError(err);
      }
    }
  }

  private setStatus(status: BusStatus): void {
    if (this.current === status) return;
    this.current = status;
    for (const listener of this.statusListeners) {
      try {
        listener(status);
      } catch (err) {
        this.onError(err);
      }
    }
  }
}

function toNatsOptions(options: PublishOptions | undefined): NatsPublishOptions | undefined {
  if (!options || (options.reply === undefined && options.headers === undefined)) return undefined;
  const out: NatsPublishOptions = {};
  if (options.reply !== undefined) out.reply = options.reply;
  if (options.headers !== undefined) {
    const h = natsHeaders();
    for (const [name, value] of Object.entries(options.headers)) h.set(name, value);
    out.headers = h;
  }
  return out;
}

/** nats.js answers '' for a missing header; the bus says undefined. */
function wrap(h: MsgHdrs): BusHeaders {
  return { get: (name) => (h.has(name) ? h.get(name) : undefined) };
}
