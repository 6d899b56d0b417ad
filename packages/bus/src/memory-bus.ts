import { randomBytes } from 'node:crypto';
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
import { checkQueue, checkSubject, checkTimeout, closedError, subjectMatches } from './subject.js';

interface MemorySubscription extends BusSubscription {
  readonly tokens: readonly string[];
  readonly queue: string | undefined;
  handler: BusHandler | null;
}

interface Queued {
  readonly subject: string;
  readonly payload: Uint8Array;
  readonly reply: string | undefined;
  readonly headers: BusHeaders | undefined;
  /** Set for requests: called when the message reached no subscriber (NATS sends a 503). */
  readonly onNoResponders: (() => void) | undefined;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
}

/** Options of {@link MemoryBus}. */
export interface MemoryBusOptions {
  /**
   * Called when a handler throws (handlers must not); the message still reaches every
   * other subscriber. Default: rethrown on a later tick.
   */
  onHandlerError?: (err: unknown, subject: string) => void;
}

/**
 * The in-process bus of embedded mode. Several edges may share one `MemoryBus` to form a
 * cluster inside one process. Like NATS, it delivers asynchronously (never inside
 * `publish`), in publish order, and only to subjects someone subscribed to; a queue group
 * gets each message once (members take turns); requests wait on a private `_INBOX.`
 * subject. The payload is passed by reference, never copied. Its status is `connected`
 * until `close()`.
 */
export class MemoryBus implements Bus {
  private readonly exact = new Map<string, Set<MemorySubscription>>();
  private readonly wildcard = new Set<MemorySubscription>();
  /** Queue subscriptions, exact or wildcard; rare (service replicas), so kept apart. */
  private readonly queued = new Set<MemorySubscription>();
  private readonly turns = new Map<string, number>();
  private readonly queue: Queued[] = [];
  private flushWaiters: Waiter[] = [];
  /** The reject functions of requests still waiting for an answer. */
  private readonly requests = new Set<(err: unknown) => void>();
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  private readonly inboxPrefix = `_INBOX.${randomBytes(8).toString('hex')}`;
  private inboxCount = 0;
  private draining = false;
  private closed = false;
  private readonly onHandlerError: (err: unknown, subject: string) => void;

  constructor(options: MemoryBusOptions = {}) {
    this.onHandlerError =
      options.onHandlerError ??
      ((err) => {
        setImmediate(() => {
          throw err;
        });
      });
  }

  /** `connected` until {@link close}, then `closed`. */
  get status(): BusStatus {
    return this.closed ? 'closed' : 'connected';
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  subscribe(
    subject: string,
    handler: BusHandler,
    options: SubscribeOptions = {},
  ): Promise<BusSubscription> {
    if (this.closed) return Promise.reject(closedError());
    try {
      checkSubject(subject, true);
      if (options.queue !== undefined) checkQueue(options.queue);
    } catch (err) {
      return Promise.reject(err);
    }
    return Promise.resolve(this.add(subject, handler, options.queue));
  }

  publish(subject: string, payload: Uint8Array, options?: PublishOptions): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    const reply = options?.reply;
    try {
      checkSubject(subject, false);
      if (reply !== undefined) checkSubject(reply, false);
    } catch (err) {
      return Promise.reject(err);
    }
    const headers = options?.headers && recordHeaders(options.headers);
    this.enqueue({ subject, payload, reply, headers, onNoResponders: undefined });
    return Promise.resolve();
  }

  request(subject: string, payload: Uint8Array, options: RequestOptions = {}): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(closedError());
    const timeoutMs = options.timeoutMs ?? 5000;
    try {
      checkSubject(subject, false);
      checkTimeout(timeoutMs);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const inbox = `${this.inboxPrefix}.${++this.inboxCount}`;
      const fail = (err: unknown): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        this.requests.delete(fail);
        reject(err);
      };
      const sub = this.add(inbox, (answer) => {
        clearTimeout(timer);
        sub.unsubscribe();
        this.requests.delete(fail);
        resolve(answer);
      });
      const timer = setTimeout(() => {
        const details = { subject, timeoutMs };
        fail(
          new RoomfabricError(ErrorCode.REQUEST_TIMEOUT, `no answer on ${subject} in time`, {
            temporary: true,
            details,
          }),
        );
      }, timeoutMs);
      this.requests.add(fail);
      const onNoResponders = (): void =>
        fail(
          new RoomfabricError(ErrorCode.NO_RESPONDERS, `no subscriber on ${subject}`, {
            details: { subject },
          }),
        );
      this.enqueue({ subject, payload, reply: inbox, headers: undefined, onNoResponders });
    });
  }

  /** Resolves once every message published so far has been handed to its handlers. */
  flush(): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    if (!this.draining) return Promise.resolve();
    return new Promise((resolve, reject) => this.flushWaiters.push({ resolve, reject }));
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    this.queue.length = 0;
    for (const set of this.exact.values()) for (const sub of set) sub.handler = null;
    for (const sub of this.wildcard) sub.handler = null;
    for (const sub of this.queued) sub.handler = null;
    this.exact.clear();
    this.wildcard.clear();
    this.queued.clear();
    for (const fail of [...this.requests]) fail(closedError());
    for (const waiter of this.flushWaiters) waiter.reject(closedError());
    this.flushWaiters = [];
    for (const listener of this.statusListeners) listener('closed');
    this.statusListeners.clear();
    return Promise.resolve();
  }

  /** Subjects with at least one subscriber (exact ones only); for tests and metrics. */
  subjects(): string[] {
    return [...this.exact.keys()];
  }

  private add(subject: string, handler: BusHandler, queue?: string): MemorySubscription {
    const tokens = subject.split('.');
    const isWildcard = tokens.some((t) => t === '*' || t === '>');
    const sub: MemorySubscription = {
      subject,
      tokens,
      queue,
      handler,
      unsubscribe: () => {
        sub.handler = null;
        if (queue !== undefined) this.queued.delete(sub);
        else if (isWildcard) this.wildcard.delete(sub);
        else {
          const set = this.exact.get(subject);
          set?.delete(sub);
          if (set?.size === 0) this.exact.delete(subject);
        }
      },
    };
    if (queue !== undefined) this.queued.add(sub);
    else if (isWildcard) this.wildcard.add(sub);
    else {
      let set = this.exact.get(subject);
      if (!set) this.exact.set(subject, (set = new Set()));
      set.add(sub);
    }
    return sub;
  }

  private enqueue(message: Queued): void {
    this.queue.push(message);
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(this.drain);
    }
  }

  private readonly drain = (): void => {
    // Messages published by handlers during the drain join the same queue, in order.
    for (let i = 0; i < this.queue.length; i++) {
      const message = this.queue[i]!;
      const reached = this.dispatch(message);
      if (reached === 0) message.onNoResponders?.();
    }
    this.queue.length = 0;
    this.draining = false;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const waiter of waiters) waiter.resolve();
  };

  /** Hands one message to its subscribers; returns how many it reached. */
  private dispatch(message: Queued): number {
    const { subject, payload, reply, headers } = message;
    let reached = 0;
    const set = this.exact.get(subject);
    if (set) {
      const subs = [...set];
      for (const sub of subs) this.call(sub, payload, subject, reply, headers);
      reached += subs.length;
    }
    if (this.wildcard.size === 0 && this.queued.size === 0) return reached;
    const tokens = subject.split('.');
    for (const sub of [...this.wildcard]) {
      if (!subjectMatches(sub.tokens, tokens)) continue;
      this.call(sub, payload, subject, reply, headers);
      reached++;
    }
    if (this.queued.size === 0) return reached;
    // As in NATS, matching queue subscriptions with the same name form one group, whatever
    // pattern each used; each group gets the message once.
    const groups = new Map<string, MemorySubscription[]>();
    for (const sub of this.queued) {
      if (!subjectMatches(sub.tokens, tokens)) continue;
      const members = groups.get(sub.queue!);
      if (members) members.push(sub);
      else groups.set(sub.queue!, [sub]);
    }
    for (const [name, members] of groups) {
      const turn = this.turns.get(name) ?? 0;
      this.turns.set(name, turn + 1);
      this.call(members[turn % members.length]!, payload, subject, reply, headers);
      reached++;
    }
    return reached;
  }

  private call(
    sub: MemorySubscription,
    payload: Uint8Array,
    subject: string,
    reply: string | undefined,
    headers: BusHeaders | undefined,
  ): void {
    try {
      sub.handler?.(payload, subject, reply, headers);
    } catch (err) {
      this.onHandlerError(err, subject);
    }
  }
}

function recordHeaders(record: Readonly<Record<string, string>>): BusHeaders {
  const copy = { ...record };
  return { get: (name) => (Object.hasOwn(copy, name) ? copy[name] : undefined) };
}
