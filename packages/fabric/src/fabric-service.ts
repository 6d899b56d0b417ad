import type { Bus, BusSubscription } from '@roomfabric/bus';
import type { Membership } from '@roomfabric/membership';
import {
  BusMessageType,
  decodeBusMessage,
  encodeReply,
  ErrorCode,
  isRoomfabricError,
  RoomfabricError,
  Subject,
  type RaidReport,
} from '@roomfabric/protocol';
import { Fabric } from './fabric.js';
import { purgeNodeSockets } from './purge.js';
import { publishRoomEvents } from './room-events.js';
import { publishPresenceEvents, type PresenceOptions } from './presence-events.js';
import type { Logger } from './logger.js';
import { runRaid } from './raid.js';
import type { FabricServiceStats, ServiceMetrics } from './service-metrics.js';

/** Queue group of the membership service replicas: each request goes to one of them. */
export const SERVICE_QUEUE = 'rf-membership';

export interface FabricServiceOptions {
  bus: Bus;
  membership: Membership;
  logger: Logger;
  /** How often lapsed leases are looked for, ms. Default 1000. */
  leaseCheckMs?: number;
  /** Sockets removed per purge step (one atomic script each). Default 500. */
  purgeBatch?: number;
  /** Prometheus metrics to record raids in and to read `stats` from at scrape time. */
  metrics?: ServiceMetrics;
  /**
   * Rooms whose members get `$presence` events (docs/presence.md); give the edges the same
   * patterns, so the leaves of purges and the moves of raids, which run here, reach them too.
   */
  presence?: PresenceOptions;
}

/**
 * The fabric service (the process `roomfabric membership` runs it; embedded mode runs one
 * in-process): runs raids asked on `rf.svc.raid` and purges the sockets of
 * nodes whose lease lapsed, publishing a SOCKET_LEFT event on `rf.evt.leave` for each.
 * Stateless (the index is the only state), so any number of replicas may run: requests
 * go to one replica (a queue group), and purges are split between replicas by the index
 * itself (each socket is removed, and reported, by exactly one purge step).
 */
export class FabricService {
  readonly stats: FabricServiceStats = {
    raids: 0,
    purgedNodes: 0,
    purgedSockets: 0,
    sweepErrors: 0,
  };
  private readonly fabric: Fabric;
  private readonly leaseCheckMs: number;
  private readonly purgeBatch: number;
  private sub: BusSubscription | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;
  private closed = false;
  /** When the index last answered a sweep (ms since epoch), 0 before the first. */
  private indexAnsweredAt = 0;

  constructor(private readonly options: FabricServiceOptions) {
    publishRoomEvents(options.membership, options.bus, options.logger);
    publishPresenceEvents(options.membership, options.bus, options.logger, options.presence);
    this.fabric = new Fabric({
      bus: options.bus,
      membership: options.membership,
      logger: options.logger,
    });
    this.leaseCheckMs = options.leaseCheckMs ?? 1000;
    this.purgeBatch = options.purgeBatch ?? 500;
    options.metrics?.bind(this);
  }

  /**
   * True while the service can do its work: subscribed, NATS connected, and the index
   * answered a lease sweep within the last 3 sweep intervals (at least 3 s).
   */
  get ready(): boolean {
    const window = Math.max(3 * this.leaseCheckMs, 3000);
    return (
      this.sub !== undefined &&
      !this.closed &&
      this.options.bus.status === 'connected' &&
      Date.now() - this.indexAnsweredAt < window
    );
  }

  /** Subscribes to requests and starts the lease sweeper. */
  async start(): Promise<void> {
    this.sub = await this.options.bus.subscribe(
      Subject.raid,
      (payload, _subject, reply) => this.onRaid(payload, reply),
      {
        queue: SERVICE_QUEUE,
      },
    );
    this.timer = setInterval(() => void this.sweep(), this.leaseCheckMs);
    this.timer.unref();
    // One sweep at once: a (re)started replica purges what lapsed meanwhile, and is ready
    // (the index answered) without waiting for the first interval.
    void this.sweep();
  }

  /** Looks for lapsed leases once and purges what it finds. Never rejects. */
  sweep(): Promise<void> {
    this.sweeping ??= this.purgeLapsed()
      .catch((err: unknown) => {
        this.stats.sweepErrors++;
        this.options.logger.warn({ err }, 'lease sweep failed');
      })
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    await this.sweeping;
  }

  private async purgeLapsed(): Promise<void> {
    const { membership, bus, logger } = this.options;
    const expired = await membership.expiredNodes();
    this.indexAnsweredAt = Date.now();
    for (const node of expired) {
      if (this.closed) return;
      const removed = await purgeNodeSockets({
        membership,
        bus,
        nodeId: node,
        batch: this.purgeBatch,
        reason: 'node-lost',
        stop: () => {
          this.indexAnsweredAt = Date.now();
          return this.closed;
        },
      });
      this.indexAnsweredAt = Date.now();
      if (removed > 0) {
        this.stats.purgedNodes++;
        this.stats.purgedSockets += removed;
        logger.info({ node, sockets: removed }, 'purged the sockets of a node whose lease lapsed');
      }
    }
  }

  private onRaid(payload: Uint8Array, reply: string | undefined): void {
    void this.handleRaid(payload).then((result) => {
      if (reply) {
        this.options.bus
          .publish(reply, result)
          .catch((err: unknown) => this.options.logger.warn({ err }, 'raid reply failed'));
      }
    });
  }

  private async handleRaid(payload: Uint8Array): Promise<Uint8Array> {
    const started = performance.now();
    try {
      const msg = decodeBusMessage(payload);
      if (msg.type !== BusMessageType.RAID_REQUEST) {
        throw new RoomfabricError(ErrorCode.FRAME_MALFORMED, 'expected a raid request');
      }
      const report: RaidReport = await runRaid(this.fabric, msg.raidId, msg.from, msg.to);
      this.stats.raids++;
      this.options.metrics?.raidDone(report);
      this.options.logger.info({ ...report }, 'raid done');
      return encodeReply({ ok: true, data: report });
    } catch (err) {
      this.options.metrics?.raidFailed((performance.now() - started) / 1000);
      this.options.logger.warn({ err }, 'raid failed');
      const error = isRoomfabricError(err)
        ? err
        : new RoomfabricError(
            ErrorCode.RAID_FAILED,
            err instanceof Error ? err.message : 'raid failed',
            { cause: err },
          );
      return encodeReply({ ok: false, error });
    }
  }
}
