/**
 * What the storm scenario runs and reports: its options, the figures of one system, who is
 * where ({@link stormPlan}) and the constants both halves share.
 */
import type { ClientGroup } from '../load/worker.js';
import type { CommonOptions } from '../scenario.js';

/** Options of the storm scenario. */
export interface StormOptions extends CommonOptions {
  clients: number;
  /** Nodes; one of them is killed. */
  nodes: number;
  /** Rooms; every client is in 3 of them. */
  rooms: number;
  /** Every room gets a broadcast this often, from before the kill until everyone receives. */
  tickMs: number;
  /** Broadcasting before the kill, ms (the steady state the kill interrupts). */
  warmupMs: number;
  /**
   * Ours: the edges' lease TTL (the dead node's sockets are purged after this long; its
   * renewal interval and the membership service's check are a fifth of it, as by default).
   */
  leaseTtlMs: number;
  /**
   * The movers' reconnect backoff, for both systems: the SDK's, first attempt after
   * 0.5-1 x this, doubling to 10 s (the SDK's default: 250).
   */
  reconnectDelayMs: number;
}

/** p50 / p99 / max of a per-client duration, ms. */
export interface Spread {
  p50ms: number;
  p99ms: number;
  maxMs: number;
}

/** Figures of one system. */
export interface StormFigures {
  nodes: number;
  clients: number;
  rooms: number;
  /** Clients of the killed node, which had to move. */
  moved: number;
  /** Broadcast latency over the warm-up (is the tick rate sustainable at this size?). */
  steady: { p50ms: number; p99ms: number };
  /**
   * From the kill until each moved client saw its connection close, then (on the connection
   * it rejoined with) until the WebSocket upgrade was answered and until the handshake was
   * (HELLO; Socket.IO's CONNECT): where (a) goes.
   */
  noticed: Spread;
  upgraded: Spread;
  ready: Spread;
  /** (a) From the kill until each moved client was connected elsewhere and acked in its 3 rooms. */
  back: Spread;
  /**
   * (b) From the kill until each moved client got its first broadcast after that rejoin;
   * `maxMs` is when the last one received.
   */
  receiving: Spread;
  /**
   * (c) Ours: from the kill until the index was exact again (the dead node's sockets purged,
   * every room's count equal to its live members, the dead node gone from `totals`).
   */
  indexExactMs?: number;
  /** Movers back in their rooms, and receiving again, within the time allowed. */
  rejoined: number;
  resumed: number;
  /** Broadcast rounds (one per room) published from the warm-up until the end. */
  ticks: number;
  /** From the kill until the last moved client received, ms: the CPU window. */
  stormMs: number;
  /** CPU by role over `stormMs`, % of one core. */
  cpu: Record<string, number>;
  /**
   * The machine's TCP counters over `stormMs` (Linux): connections dropped because a node's
   * accept queue was full, and SYNs sent again (each such client waits 1, 3, 7... s).
   */
  tcp: { listenOverflows: number; synRetransmits: number };
}

/** Rooms per client. */
export const PER_CLIENT = 3;
/** The node killed: the second (any would do; every node holds the same share). */
export const VICTIM = 1;
/** How long the movers get to be back and receiving, from the kill. */
export const MOVERS_TIMEOUT_MS = 120_000;

/**
 * Who is where. Client g lives on node g % nodes (its first URL), then fails over to the
 * other nodes in an order that alternates between neighbours (so the movers of a dead node
 * split evenly over the survivors, as a client list shuffled per client would), and is in
 * rooms g, g+1, g+2 (mod rooms): every room has members on every node.
 */
export function stormPlan(
  clients: number,
  nodes: number,
  rooms: number,
): { roomIds: string[]; expected: number[]; groups: (urls: string[]) => ClientGroup[] } {
  const digits = String(rooms - 1).length; // same-length names: one frame length
  const roomIds = Array.from(
    { length: rooms },
    (_, i) => `storm-${String(i).padStart(digits, '0')}`,
  );
  const expected = new Array<number>(rooms).fill(0);
  const kinds = new Map<
    string,
    { home: number; others: number[]; rooms: number[]; count: number }
  >();
  for (let g = 0; g < clients; g++) {
    const home = g % nodes;
    const offset = Math.floor(g / nodes) % (nodes - 1);
    const others = Array.from(
      { length: nodes - 1 },
      (_, k) => (home + 1 + ((offset + k) % (nodes - 1))) % nodes,
    );
    const mine = Array.from({ length: PER_CLIENT }, (_, k) => (g + k) % rooms);
    for (const r of mine) expected[r]!++;
    const key = `${home}|${offset}|${g % rooms}`;
    const kind = kinds.get(key);
    if (kind) kind.count++;
    else kinds.set(key, { home, others, rooms: mine, count: 1 });
  }
  return {
    roomIds,
    expected,
    groups: (urls) =>
      [...kinds.values()].map((k) => ({
        url: urls[k.home]!,
        failover: k.others.map((i) => urls[i]!),
        count: k.count,
        rooms: k.rooms.map((r) => roomIds[r]!),
        eventRoom: roomIds[k.rooms[0]!]!,
      })),
  };
}

/** A fifth of the lease TTL: the renewal interval and the check interval (the defaults). */
export function fifth(ttlMs: number): number {
  return Math.max(50, Math.round(ttlMs / 5));
}
