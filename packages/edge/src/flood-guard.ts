/**
 * A token bucket that may go into debt: `take` always succeeds and says how long the
 * taker should wait before it takes again, so a sender over the budget is slowed to it.
 */
export class DebtBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly perSecond: number,
    now = Date.now(),
  ) {
    this.tokens = perSecond;
    this.last = now;
  }

  /** Takes `n`; returns 0, or the ms until the bucket is out of debt. */
  take(n: number, now = Date.now()): number {
    const elapsed = (now - this.last) / 1000;
    if (elapsed > 0) {
      this.last = now;
      this.tokens = Math.min(this.perSecond, this.tokens + elapsed * this.perSecond);
    }
    this.tokens -= n;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.perSecond) * 1000);
  }
}

/** The longest a paused socket waits before it is read again. */
const MAX_PAUSE_MS = 1000;

/**
 * Budgets of client frames shared by many sockets: one per user (all of a user's sockets
 * on this node) and one for the whole node. A socket whose user or node is over budget
 * is not refused anything: the node stops reading it (TCP backpressure) until the budget
 * has room again. So a flood of sockets each under its own allowance cannot take the
 * event loop from other users, from the lease renewal or from the heartbeats; what it
 * sends waits in its own kernel buffers.
 */
export class FloodGuard {
  private readonly users = new Map<string, { bucket: DebtBucket; sockets: number }>();
  private readonly node: DebtBucket | undefined;

  constructor(
    private readonly perUser: number,
    perNode: number,
  ) {
    this.node = perNode > 0 ? new DebtBucket(perNode) : undefined;
  }

  /** A socket of `user` opened (undefined: no user). */
  addUser(user: string | undefined): void {
    if (user === undefined || this.perUser <= 0) return;
    const entry = this.users.get(user);
    if (entry) entry.sockets++;
    else this.users.set(user, { bucket: new DebtBucket(this.perUser), sockets: 1 });
  }

  removeUser(user: string | undefined): void {
    if (user === undefined) return;
    const entry = this.users.get(user);
    if (!entry) return;
    if (--entry.sockets <= 0) this.users.delete(user);
  }

  /** `frames` arrived from a socket of `user`; returns how long to stop reading it, ms (0: go on). */
  charge(user: string | undefined, frames: number, now = Date.now()): number {
    const byUser = user === undefined ? 0 : (this.users.get(user)?.bucket.take(frames, now) ?? 0);
    const byNode = this.node?.take(frames, now) ?? 0;
    return Math.min(Math.max(byUser, byNode), MAX_PAUSE_MS);
  }
}
