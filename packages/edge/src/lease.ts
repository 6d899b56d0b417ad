import type { NodeSnapshotSocket } from '@roomfabric/membership';
import { purgeNodeSockets } from '@roomfabric/fabric';
import type { EdgeContext } from './context.js';
import { presenceUser } from './presence.js';
import type { Socket } from './socket.js';

const MAX_REASSERT_PASSES = 5;

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

  private async renew(): Promise<void> {
    const { membership, nodeId } = this.ctx;
    const alive = await membership.renewLease(nodeId, this.ttlMs);
    if (!alive) {
      const started = performance.now();
      // A re-assert writes each socket's rooms exactly as the snapshot had them, so a join
      // or leave that lands while it runs could be undone: take the snapshot again until
      // nothing changed during one pass.
      let snapshot: NodeSnapshotSocket[] = [];
      for (let pass = 0; pass < MAX_REASSERT_PASSES; pass++) {
        const version = this.ctx.membershipVersion;
        snapshot = this.registeredSockets().map((s) => ({
          socketId: s.id,
          user: presenceUser(s.data),
          data: s.data,
          rooms: [...s.rooms],
        }));
        await membership.reassert(nodeId, snapshot);
        if (this.ctx.membershipVersion === version) break;
      }
      this.reasserts++;
      if (this.lastRenewed > 0 || snapshot.length > 0) {
        this.ctx.logger.info(
          { sockets: snapshot.length, ms: Math.round(performance.now() - started) },
          'lease was gone: re-asserted local membership',
        );
      }
    }
    this.lastRenewed = Date.now();
    this.failuresInRow = 0;
  }
}
