import type { NodeSnapshotSocket } from '@roomfabric/membership';
import { purgeNodeSockets } from '@roomfabric/fabric';
import type { EdgeContext } from './context.js';
import { presenceUser } from './presence.js';
import type { Socket } from './socket.js';

/**
 * Keeps this node's lease in the index alive. When a renewal finds the lease gone (first
 * start, a pause longer than the TTL, or an index that lost its data, such as a Redis
 * restarted empty), the node re-asserts its whole local membership, so the index heals
 * from the edges' truth.
 */
export class LeaseKeeper {
  /** Last time a renewal succeeded (ms since epoch), 0 before the first. */
  lastRenewed = 0;
  reasserts = 0;
  failures = 0;
  private failuresInRow = 0;
  /** A renewal asked for a re-assert that has not completed yet. */
  private reassertOwed = false;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly ctx: EdgeContext<Socket>,
    /** Sockets the index should hold: open ones, and those being added to it. */
    private readonly registeredSockets: () => Socket[],
    readonly intervalMs: number,
    readonly ttlMs: number,
  ) {}

  /**
   * Clears what an earlier process with this node id left in the index (a supervisor may
   * restart a crashed edge before its lease lapsed, and nobody else would ever purge those
   * sockets), then renews (and re-asserts) once and keeps renewing every interval. Runs
   * before any socket of this process registers.
   */
  async start(): Promise<void> {
    const { membership, bus, nodeId } = this.ctx;
    await membership.dropLease(nodeId);
    const purged = await purgeNodeSockets({
      membership,
      bus,
      nodeId,
      batch: 500,
      reason: 'node-restarted',
    });
    if (purged > 0)
      this.ctx.logger.info(
        { sockets: purged },
        "purged the sockets of this node id's previous process",
      );
    await this.tick();
    this.timer = setInterval(() => void this.tick(), this.intervalMs);
    this.timer.unref();
  }

  /**
   * True while the lease is alive and the index answers: the last renewal is within the
   * TTL and fewer than two renewals in a row failed (so `/readyz` flips within about two
   * intervals when Redis goes away, well before the lease lapses).
   */
  get healthy(): boolean {
    return Date.now() - this.lastRenewed < this.ttlMs && this.failuresInRow < 2;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One renewal; concurrent calls share it. Never rejects. */
  tick(): Promise<void> {
    this.running ??= this.renew()
      .catch((err: unknown) => {
        this.failures++;
        this.failuresInRow++;
        this.ctx.logger.warn({ err }, 'lease renewal failed');
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  /**
   * Writes the node's whole local membership to the index (or, with `only`, that of
   * these sockets), with the node's recent removals as the scrub list (index-repairs.ts).
   * The sockets' own index writes are held for the duration (earlier ones finish first,
   * later ones wait), and for a whole re-assert sockets that have not registered yet wait
   * too, so no join, leave or registration can land between the snapshot and the
   * re-assert and be undone by it. Local changes made meanwhile are in the snapshot or are
   * written again after it. Resolves with the number of sockets written.
   */
  private async reassert(only?: ReadonlySet<string>): Promise<number> {
    const { ctx } = this;
    const pick = () =>
      only ? this.registeredSockets().filter((s) => only.has(s.id)) : this.registeredSockets();
    let release!: () => void;
    const hold = new Promise<void>((r) => (release = r));
    if (!only) ctx.indexHold = hold;
    try {
      const held = new Set<Socket>();
      // A socket that registered while we waited joins the held ones. A write that does
      // not finish within the TTL (the bus or index down) is not waited for longer: the
      // re-assert goes ahead, and such a socket's write may then land after it.
      const deadline = Date.now() + this.ttlMs;
      for (let more = pick(); more.length > 0;) {
        for (const s of more) held.add(s);
        const reached = await within(
          Promise.all(more.map((s) => s.holdIndex(hold))),
          deadline - Date.now(),
        );
        if (!reached) {
          ctx.logger.warn(
            { sockets: more.length },
            'index writes still running at the re-assert; not waiting for them longer',
          );
          break;
        }
        more = pick().filter((s) => !held.has(s));
      }
      const snapshot: NodeSnapshotSocket[] = pick().map((s) => ({
        socketId: s.id,
        user: presenceUser(s.data),
        data: s.data,
        rooms: [...s.rooms],
      }));
      const scrub = ctx.indexRepairs.scrub(only && [...only]);
      await ctx.membership.reassert(ctx.nodeId, snapshot, { only: !!only, scrub });
      if (only) {
        // Suspects that are gone: their registration may have landed after their removal.
        const open = new Set(snapshot.map((s) => s.socketId));
        await Promise.all(
          [...only].filter((id) => !open.has(id)).map((id) => ctx.membership.removeSocket(id)),
        );
      }
      return snapshot.length;
    } finally {
      if (!only) ctx.indexHold = undefined;
      release();
    }
  }

  /** Re-asserts the sockets whose index writes failed recently (index-repairs.ts). */
  private async repairSuspects(): Promise<void> {
    const ids = this.ctx.indexRepairs.suspectIds();
    if (ids.length === 0) return;
    const since = Date.now();
    await this.reassert(new Set(ids));
    this.ctx.indexRepairs.repaired(ids, since);
  }

  private async renew(): Promise<void> {
    const { membership, nodeId } = this.ctx;
    const alive = await membership.renewLease(nodeId, this.ttlMs);
    if (alive && !this.reassertOwed) {
      await this.repairSuspects();
    } else {
      // Owed until one completes: a re-assert that failed half way (the index failing over
      // under it) is not followed by another "not alive" renewal.
      this.reassertOwed = true;
      const started = performance.now();
      const suspects = this.ctx.indexRepairs.suspectIds();
      const since = Date.now();
      const count = await this.reassert();
      this.reassertOwed = false;
      this.ctx.indexRepairs.repaired(suspects, since);
      this.reasserts++;
      if (this.lastRenewed > 0 || count > 0) {
        this.ctx.logger.info(
          { sockets: count, ms: Math.round(performance.now() - started) },
          'lease was gone or the index failed over: re-asserted local membership',
        );
      }
    }
    this.lastRenewed = Date.now();
    this.failuresInRow = 0;
  }
}

/** True if `p` settles within `ms`. */
async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((r) => (timer = setTimeout(() => r(false), Math.max(0, ms))));
  try {
    return await Promise.race([p.then(() => true as const), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
