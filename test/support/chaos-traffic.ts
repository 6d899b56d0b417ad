import { createServer, type RoomfabricServer } from '@roomfabric/server';
import { eventually } from '@roomfabric/testkit';
import { sleep } from './chaos-fabric.js';
import type { SwarmClient } from './swarm.js';

/** The event every chaos broadcast carries; its data is the room's sequence number. */
export const TICK = 'tick';

/** A traffic loop never runs longer than this, whatever the test does. */
const MAX_TRAFFIC_MS = 5 * 60_000;

/**
 * Traffic flowing the whole time: from its own server connection, one broadcast per room
 * every `intervalMs`, each carrying that room's next sequence number (1, 2, 3 ...).
 * A sequence number counts as issued when `emit` is called, so "issued before X" is an
 * upper bound of what reached the bus before X.
 */
export class Traffic {
  /** Publishes the bus refused (their numbers are never expected by anyone). */
  failures = 0;
  published = 0;
  private readonly seqs = new Map<string, number>();
  private readonly refused = new Map<string, Set<number>>();
  private running = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly server: RoomfabricServer,
    rooms: readonly string[],
    private readonly intervalMs = 5,
  ) {
    for (const room of rooms) this.seqs.set(room, 0);
  }

  /** Last sequence number issued for `room` (0 before the first). */
  issued(room: string): number {
    return this.seqs.get(room) ?? 0;
  }

  /** Every room's last issued number. */
  snapshot(): Map<string, number> {
    return new Map(this.seqs);
  }

  /** Whether the publish of `seq` to `room` was refused by the bus. */
  wasRefused(room: string, seq: number): boolean {
    return this.refused.get(room)?.has(seq) ?? false;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    const deadline = Date.now() + MAX_TRAFFIC_MS;
    while (this.running && Date.now() < deadline) {
      for (const [room, last] of this.seqs) {
        const seq = last + 1;
        this.seqs.set(room, seq);
        try {
          await this.server.to(room).emit(TICK, seq);
          this.published++;
        } catch {
          this.failures++;
          const set = this.refused.get(room) ?? new Set<number>();
          set.add(seq);
          this.refused.set(room, set);
        }
      }
      await sleep(this.intervalMs);
    }
  }
}

/**
 * What one receiver got, split into connection epochs: an epoch starts when a connection
 * is lost (the client is reconnecting) and is "live" from the moment its rooms are
 * rejoined, when `start` records the numbers issued so far. Every number after `start`
 * must arrive in that epoch; none may arrive twice, in any epoch.
 */
export class SeqLedger {
  duplicates = 0;
  /** Messages received over all epochs. */
  received = 0;
  private epochStart: Map<string, number> | undefined = new Map();
  /** Per room: numbers received in the current epoch, and how far they are contiguous from start. */
  private current = new Map<string, { got: Set<number>; upTo: number }>();
  private readonly ever = new Map<string, Set<number>>();

  /** The connection was lost: what arrives next belongs to a new connection. */
  lost(): void {
    this.epochStart = undefined;
    this.current = new Map();
  }

  /**
   * The rooms are rejoined (SDK `connected`): in each of `rooms`, every number after
   * `issued` is owed. Rooms joined later get their start from {@link owedAfter}.
   */
  live(issued: ReadonlyMap<string, number>, rooms: Iterable<string> = issued.keys()): void {
    this.epochStart = new Map();
    for (const room of rooms) {
      const seq = issued.get(room) ?? 0;
      this.epochStart.set(room, seq);
      const entry = this.entry(room);
      entry.upTo = Math.max(entry.upTo, seq);
    }
  }

  /**
   * The first number owed in `room` for this (live) epoch is `seq + 1`: a room joined, or
   * moved into, after the epoch began. With `onlyIfUnset`, an owed start already set for
   * the room in this epoch is kept.
   */
  owedAfter(room: string, seq: number, onlyIfUnset = false): void {
    if (!this.epochStart) return; // not live: the rejoin decides what is owed
    if (onlyIfUnset && this.epochStart.has(room)) return;
    this.epochStart.set(room, seq);
    const entry = this.entry(room);
    entry.upTo = Math.max(entry.upTo, seq);
  }

  record(room: string, seq: number): void {
    this.received++;
    let ever = this.ever.get(room);
    if (!ever) this.ever.set(room, (ever = new Set()));
    if (ever.has(seq)) this.duplicates++;
    ever.add(seq);
    this.entry(room).got.add(seq);
  }

  /** Whether the current epoch is live (rooms rejoined). */
  get isLive(): boolean {
    return this.epochStart !== undefined;
  }

  /** Numbers in (start, upTo] missing in the current epoch; `skip` excludes refused publishes. */
  missing(room: string, upTo: number, skip: (seq: number) => boolean = () => false): number[] {
    if (!this.epochStart) return [];
    const entry = this.entry(room);
    entry.upTo = Math.max(entry.upTo, this.epochStart.get(room) ?? 0);
    while (entry.got.has(entry.upTo + 1) || skip(entry.upTo + 1)) entry.upTo++;
    const out: number[] = [];
    for (let s = entry.upTo + 1; s <= upTo; s++) if (!entry.got.has(s) && !skip(s)) out.push(s);
    return out;
  }

  /** Highest number received for `room`, in any epoch (0 if none). */
  highest(room: string): number {
    let max = 0;
    for (const s of this.ever.get(room) ?? []) if (s > max) max = s;
    return max;
  }

  /** Whether `seq` of `room` was ever received. */
  has(room: string, seq: number): boolean {
    return this.ever.get(room)?.has(seq) ?? false;
  }

  private entry(room: string): { got: Set<number>; upTo: number } {
    let entry = this.current.get(room);
    if (!entry) {
      entry = { got: new Set(), upTo: this.epochStart?.get(room) ?? 0 };
      this.current.set(room, entry);
    }
    return entry;
  }
}

/** Anything that receives traffic: an SDK client or a swarm client, with the rooms it must hear. */
export interface Receiver {
  readonly label: string;
  readonly ledger: SeqLedger;
  /** Rooms whose traffic this receiver is owed right now. */
  rooms(): readonly string[];
}

/**
 * A swarm client's receiver: fed from its log (call `sync()` before reading the ledger).
 * A swarm client never reconnects, so it has one epoch.
 */
export class SwarmReceiver implements Receiver {
  readonly ledger = new SeqLedger();
  private read = 0;

  constructor(
    readonly client: SwarmClient,
    private readonly owed: string[],
    readonly label = client.socketId,
  ) {}

  rooms(): readonly string[] {
    return this.owed;
  }

  /** Stops expecting `room` (the client left it or was moved out). */
  forget(room: string): void {
    const i = this.owed.indexOf(room);
    if (i >= 0) this.owed.splice(i, 1);
  }

  /** Expects `room` from `seq + 1` on. */
  expect(room: string, afterSeq: number): void {
    if (!this.owed.includes(room)) this.owed.push(room);
    this.ledger.owedAfter(room, afterSeq);
  }

  sync(): void {
    const log = this.client.log;
    for (; this.read < log.length; this.read++) {
      const e = log[this.read]!;
      if (e.kind === 'event' && e.event === TICK && e.room !== null) {
        this.ledger.record(e.room, e.data as number);
      }
    }
  }
}

/** Sum of the missing numbers over receivers and their rooms, with the worst one named. */
export interface DeliveryGap {
  missing: number;
  receivers: number;
  worst: string;
}

/**
 * Waits until every receiver has every number of each of its rooms that was issued (and
 * not refused) before this call, since its current epoch went live. Resolves with what
 * is still missing after `timeoutMs` (all zero when delivery is complete).
 */
export async function waitDelivered(
  receivers: readonly Receiver[],
  traffic: Traffic,
  timeoutMs: number,
): Promise<DeliveryGap & { ms: number | undefined }> {
  const target = traffic.snapshot();
  const gap = (): DeliveryGap => {
    let missing = 0;
    let count = 0;
    let worst = '';
    let worstN = 0;
    for (const r of receivers) {
      if (r instanceof SwarmReceiver) r.sync();
      let mine = 0;
      for (const room of r.rooms()) {
        const lost = r.ledger.missing(room, target.get(room) ?? 0, (s) =>
          traffic.wasRefused(room, s),
        );
        mine += lost.length;
        if (lost.length > worstN) {
          worstN = lost.length;
          worst = `${r.label} ${room}: ${lost.length} missing, first ${lost.slice(0, 5).join(',')} (issued ${target.get(room)})`;
        }
      }
      if (mine > 0) count++;
      missing += mine;
    }
    return { missing, receivers: count, worst };
  };
  const ms = await eventually(() => gap().missing === 0, { timeoutMs, everyMs: 50, soft: true });
  return { ...gap(), ms };
}

/** Duplicates over all receivers. */
export function duplicates(receivers: readonly Receiver[]): number {
  let n = 0;
  for (const r of receivers) {
    if (r instanceof SwarmReceiver) r.sync();
    n += r.ledger.duplicates;
  }
  return n;
}

/**
 * What every chaos scenario drives the cluster with: a server API connection for checks,
 * another one publishing the traffic (so the two never share a NATS connection), and a
 * count of leave events per socket. `close()` stops the traffic and both connections.
 */
export async function chaosBackends(
  cluster: { natsUrls: string[]; redis: { url: string } },
  rooms: readonly string[],
) {
  const server = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
  const publisher = await createServer({ nats: cluster.natsUrls, redis: cluster.redis.url });
  const left = new Map<string, number>();
  const stopLeft = await server.onSocketLeft((e) =>
    left.set(e.socketId, (left.get(e.socketId) ?? 0) + 1),
  );
  const traffic = new Traffic(publisher, rooms);
  return {
    server,
    publisher,
    traffic,
    left,
    async close(): Promise<void> {
      await traffic.stop();
      stopLeft();
      await server.close();
      await publisher.close();
    },
  };
}
