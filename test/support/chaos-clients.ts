import { connect, type EventMeta, type RoomfabricClient } from '@roomfabric/client';
import { SeqLedger, TICK, type Receiver, type Traffic } from './chaos-traffic.js';

/** Reconnect quickly, so that a failover is measured, not the backoff. */
export const FAST_RECONNECT = { minDelayMs: 50, maxDelayMs: 500 };

/**
 * An SDK client under chaos: the SDK's own failover (several URLs, one more per reconnect
 * attempt), with the traffic it received split into connection epochs.
 */
export class ChaosClient implements Receiver {
  readonly ledger = new SeqLedger();
  /** `performance.now()` of every `connected` (handshake done and every room rejoined). */
  readonly connectedAt: number[] = [];
  /** `performance.now()` of every loss of the connection. */
  readonly lostAt: number[] = [];
  /** Node of every connection, in order. */
  readonly nodes: string[] = [];
  /** Raid notices received: `from -> to`. */
  readonly moves: string[] = [];
  readonly errors: string[] = [];
  private wasConnected = false;

  constructor(
    readonly client: RoomfabricClient,
    readonly label: string,
    private readonly traffic: Traffic | undefined,
  ) {
    client.on('state', (state) => {
      if (state !== 'connected' && this.wasConnected) {
        this.wasConnected = false;
        this.lostAt.push(performance.now());
        this.ledger.lost();
      }
    });
    client.on('connected', ({ nodeId }) => {
      this.wasConnected = true;
      this.connectedAt.push(performance.now());
      this.nodes.push(nodeId);
      this.ledger.live(traffic?.snapshot() ?? new Map(), client.rooms);
    });
    client.on(TICK, (seq: unknown, meta: EventMeta) => {
      if (meta.room !== null) this.ledger.record(meta.room, seq as number);
    });
    client.on('moved', (m: unknown) => {
      const { from, to } = m as { from: string; to: string };
      this.moves.push(`${from}->${to}`);
      // From here on the client is in `to` like any member (unless a stricter start,
      // such as the raid call's resolution, was set for it already).
      this.ledger.owedAfter(to, traffic?.issued(to) ?? 0, true);
    });
    client.on('error', (err) => this.errors.push(err.code));
  }

  rooms(): readonly string[] {
    return [...this.client.rooms];
  }

  /** Joins `room`; every broadcast to it issued after the ack is owed. */
  async join(room: string): Promise<void> {
    await this.client.join(room);
    this.ledger.owedAfter(room, this.traffic?.issued(room) ?? 0);
  }

  /** The last `connected` at or after `t`, or undefined. */
  connectedSince(t: number): number | undefined {
    const last = this.connectedAt[this.connectedAt.length - 1];
    return last !== undefined && last >= t ? last : undefined;
  }
}

/**
 * Opens `count` SDK clients spread over `urls`: client i starts on `urls[i % n]` and
 * lists the others after it, so a reconnect after its node dies goes to the next node.
 */
export async function openChaosClients(
  urls: readonly string[],
  count: number,
  traffic: Traffic | undefined,
  prefix = 'c',
): Promise<ChaosClient[]> {
  const clients = Array.from({ length: count }, (_, i) => {
    const rotated = urls.map((_, k) => urls[(i + k) % urls.length]!);
    const client = connect(rotated, { reconnect: FAST_RECONNECT, ackTimeoutMs: 5000 });
    return new ChaosClient(client, `${prefix}${i}`, traffic);
  });
  await Promise.all(clients.map((c) => c.client.ready()));
  return clients;
}
