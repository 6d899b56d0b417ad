import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { Bus, BusHandler, BusSubscription } from './bus.js';

interface MemorySubscription extends BusSubscription {
  readonly tokens: readonly string[];
  handler: BusHandler | null;
}

/** True when a subscription pattern (with `*` and `>`) matches a subject. */
export function subjectMatches(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i];
    if (p === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (p !== '*' && p !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

function checkSubject(subject: string, wildcards: boolean): string[] {
  const tokens = subject.split('.');
  const ok =
    subject.length > 0 &&
    tokens.every(
      (t, i) =>
        t.length > 0 &&
        !/\s/.test(t) &&
        (wildcards
          ? t === '>'
            ? i === tokens.length - 1
            : t === '*' || !/[*>]/.test(t)
          : !/[*>]/.test(t)),
    );
  if (!ok) throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `invalid subject: ${subject}`);
  return tokens;
}

/**
 * The in-process bus of embedded mode. Several edges may share one `MemoryBus` to form a
 * cluster inside one process. Like NATS, it delivers asynchronously (never inside
 * `publish`), in publish order, and only to subjects someone subscribed to. The payload
 * is passed by reference, never copied.
 */
export class MemoryBus implements Bus {
  private readonly exact = new Map<string, Set<MemorySubscription>>();
  private readonly wildcard = new Set<MemorySubscription>();
  private readonly queue: Array<[string, Uint8Array]> = [];
  private draining = false;
  private closed = false;
  private readonly onHandlerError: (err: unknown, subject: string) => void;

  /**
   * @param options.onHandlerError called when a handler throws (handlers must not); the
   *   message still reaches every other subscriber. Default: rethrown on a later tick.
   */
  constructor(options: { onHandlerError?: (err: unknown, subject: string) => void } = {}) {
    this.onHandlerError =
      options.onHandlerError ??
      ((err) => {
        setImmediate(() => {
          throw err;
        });
      });
  }

  subscribe(subject: string, handler: BusHandler): Promise<BusSubscription> {
    if (this.closed) return Promise.reject(closedError());
    let tokens: string[];
    try {
      tokens = checkSubject(subject, true);
    } catch (err) {
      return Promise.reject(err);
    }
    const isWildcard = tokens.some((t) => t === '*' || t === '>');
    const sub: MemorySubscription = {
      subject,
      tokens,
      handler,
      unsubscribe: () => {
        sub.handler = null;
        if (isWildcard) this.wildcard.delete(sub);
        else {
          const set = this.exact.get(subject);
          set?.delete(sub);
          if (set?.size === 0) this.exact.delete(subject);
        }
      },
    };
    if (isWildcard) this.wildcard.add(sub);
    else {
      let set = this.exact.get(subject);
      if (!set) this.exact.set(subject, (set = new Set()));
      set.add(sub);
    }
    return Promise.resolve(sub);
  }

  publish(subject: string, payload: Uint8Array): Promise<void> {
    if (this.closed) return Promise.reject(closedError());
    try {
      checkSubject(subject, false);
    } catch (err) {
      return Promise.reject(err);
    }
    this.queue.push([subject, payload]);
    if (!this.draining) {
      this.draining = true;
      queueMicrotask(this.drain);
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.closed = true;
    this.queue.length = 0;
    for (const set of this.exact.values()) for (const sub of set) sub.handler = null;
    for (const sub of this.wildcard) sub.handler = null;
    this.exact.clear();
    this.wildcard.clear();
    return Promise.resolve();
  }

  /** Subjects with at least one subscriber (exact ones only); for tests and metrics. */
  subjects(): string[] {
    return [...this.exact.keys()];
  }

  private readonly drain = (): void => {
    // Messages published by handlers during the drain join the same queue, in order.
    for (let i = 0; i < this.queue.length; i++) {
      const [subject, payload] = this.queue[i]!;
      this.dispatch(subject, payload);
    }
    this.queue.length = 0;
    this.draining = false;
  };

  private dispatch(subject: string, payload: Uint8Array): void {
    const set = this.exact.get(subject);
    if (set) for (const sub of [...set]) this.call(sub, payload, subject);
    if (this.wildcard.size > 0) {
      const tokens = subject.split('.');
      for (const sub of [...this.wildcard]) {
        if (subjectMatches(sub.tokens, tokens)) this.call(sub, payload, subject);
      }
    }
  }

  private call(sub: MemorySubscription, payload: Uint8Array, subject: string): void {
    try {
      sub.handler?.(payload, subject);
    } catch (err) {
      this.onHandlerError(err, subject);
    }
  }
}

function closedError(): RoomfabricError {
  return new RoomfabricError(ErrorCode.BUS_UNAVAILABLE, 'the bus is closed');
}
