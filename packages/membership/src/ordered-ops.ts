/**
 * One actor's operations (a socket's index writes), applied in the order they were asked
 * for, where consecutive operations of a kind that commutes run together: a socket's joins
 * of distinct rooms share one round trip instead of waiting for each other, while a leave
 * after them waits for all of them, and a join after the leave for the leave.
 *
 * Built for the join path, which every JOIN frame takes: per operation it costs two
 * promise reactions (start after the group before, count down when settled), and nothing
 * at all to wait for when nothing is in flight (the operation starts at once, so its first
 * step can join the current turn's batch).
 */
export class OrderedOps {
  private group: Group | undefined;

  /** `onIdle` runs when the last operation in flight settled. */
  constructor(private readonly onIdle?: () => void) {}

  /** True when no operation is in flight. */
  get idle(): boolean {
    return this.group === undefined;
  }

  /**
   * Runs `fn` after the operations in flight, or together with them when they are all of
   * `kind` and touch none of `keys` (`kind` undefined: commutes with nothing). Returns what
   * `fn` returns; a failure of one operation does not stop the ones after it.
   */
  run<T>(kind: string | undefined, keys: readonly string[], fn: () => Promise<T>): Promise<T> {
    let group = this.group;
    let next: Promise<T>;
    if (group !== undefined && kind !== undefined && group.kind === kind && !group.touches(keys)) {
      group.add(keys);
      next = group.gate === undefined ? callAsync(fn) : group.gate.then(fn);
    } else {
      const gate = group?.done();
      group = new Group(kind, keys, gate);
      this.group = group;
      next = gate === undefined ? callAsync(fn) : gate.then(fn);
    }
    group.running++;
    const mine = group;
    const settled = (): void => {
      if (--mine.running > 0) return;
      mine.finish();
      if (this.group === mine) {
        this.group = undefined;
        this.onIdle?.();
      }
    };
    next.then(settled, settled);
    return next;
  }
}

/** Operations running together, and what the next group waits for. */
class Group {
  running = 0;
  private keys: Set<string> | undefined;
  private finished = false;
  private waiting: Promise<void> | undefined;
  private resolve: (() => void) | undefined;

  constructor(
    readonly kind: string | undefined,
    keys: readonly string[],
    /** What this group's operations wait for (undefined: nothing, they start at once). */
    readonly gate: Promise<void> | undefined,
  ) {
    if (keys.length > 0) this.keys = new Set(keys);
  }

  touches(keys: readonly string[]): boolean {
    const mine = this.keys;
    if (mine === undefined) return false;
    for (const k of keys) if (mine.has(k)) return true;
    return false;
  }

  add(keys: readonly string[]): void {
    if (keys.length === 0) return;
    this.keys ??= new Set();
    for (const k of keys) this.keys.add(k);
  }

  /** Resolves once every operation of the group settled (made only when someone waits). */
  done(): Promise<void> {
    if (this.finished) return Promise.resolve();
    this.waiting ??= new Promise<void>((resolve) => (this.resolve = resolve));
    return this.waiting;
  }

  finish(): void {
    this.finished = true;
    this.resolve?.();
  }
}

/** Calls `fn`; a synchronous throw becomes a rejection, as from an async function. */
export function callAsync<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return fn();
  } catch (err) {
    return Promise.reject(err);
  }
}
