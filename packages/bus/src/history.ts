import { createHash } from 'node:crypto';
import {
  ErrorCode,
  matchesRoomPattern,
  RoomfabricError,
  roomToSubjectToken,
  type StreamPosition,
} from '@roomfabric/protocol';
import type { BusHeaders } from './bus.js';

export type { StreamPosition } from '@roomfabric/protocol';

/** Which rooms keep history, and how much. See docs/history.md. */
export interface HistoryPolicy {
  /** Room patterns (`*` stands for any run of characters): `['chat:*', 'lobby']`. */
  rooms: readonly string[];
  /** Entries kept per room; older ones are dropped first. Default 100. */
  maxMessages?: number;
  /** How long an entry is kept, ms; 0 keeps entries until `maxMessages` pushes them out. Default 1 hour. */
  maxAgeMs?: number;
  /**
   * Names the policy's stream (`RF_HISTORY_<name>`): letters, digits, `_` and `-`.
   * Default: derived from `rooms`, so every process with the same setting agrees on it.
   */
  name?: string;
}

/** A policy with its defaults filled in. */
export interface ResolvedPolicy {
  name: string;
  rooms: readonly string[];
  maxMessages: number;
  maxAgeMs: number;
}

/** One stored broadcast of a room. */
export interface HistoryEntry {
  offset: number;
  /** The bus message as it was published (an encoded broadcast). */
  payload: Uint8Array;
}

/** What {@link History.since} found. */
export interface Recovery {
  /**
   * True when `entries` is everything the room got after the given position. False when
   * some of it is gone (expired, pushed out, more than the limit, or another epoch): the
   * client must then reload the room's state some other way. `entries` is empty then.
   */
  recovered: boolean;
  entries: HistoryEntry[];
  /** The position after `entries` (the room's latest when not recovered). */
  position: StreamPosition;
}

/**
 * Header names of a live history message, as JetStream's republish sets them: the entry's
 * offset, the offset of the room's previous entry, and our marker for anchors (entries
 * that only give a room a position and are never delivered).
 */
export const HistoryHeader = {
  OFFSET: 'Nats-Sequence',
  PREVIOUS: 'Nats-Last-Sequence',
  STREAM: 'Nats-Stream',
  ANCHOR: 'Rf-Anchor',
} as const;

/**
 * The history of the rooms that keep one (per {@link HistoryPolicy}). `NatsHistory` keeps
 * it in JetStream, `MemoryHistory` in the process; both behave the same (one contract
 * suite). A stored entry is delivered live on the room's bus subject (`rf.room.<token>`)
 * with {@link HistoryHeader} headers, in offset order, so nodes deliver it like any other
 * broadcast and stamp its offset on the EVENT frame.
 *
 * Offsets grow within an epoch but are not contiguous per room (one sequence is shared by
 * every room of a policy). The epoch changes when the history is lost as a whole (stream
 * deleted, process restarted for `MemoryHistory`).
 */
export interface History {
  /** True when `room` keeps history. */
  covers(room: string): boolean;
  /**
   * The stream that keeps `room`'s entries (`RF_HISTORY_<policy name>`), as live entries
   * name it in their `Nats-Stream` header; undefined for a room without history.
   */
  streamOf(room: string): string | undefined;
  /**
   * Stores a broadcast for `room` and delivers it to the room's subscribers. Resolves once
   * stored, with its position. Rejects with `RF_HISTORY_UNAVAILABLE` (temporary) when it
   * could not be stored: then it was not delivered either.
   */
  append(room: string, payload: Uint8Array): Promise<StreamPosition>;
  /**
   * The room's current position: its last entry. A room with no entry gets an anchor, so
   * a position always names a stored entry and {@link since} can tell a gap from silence.
   */
  position(room: string): Promise<StreamPosition>;
  /** What `room` got after `from`, at most `limit` entries (more -> not recovered). */
  since(room: string, from: StreamPosition, limit: number): Promise<Recovery>;
  /**
   * Gets every policy's storage ready (for JetStream: creates the streams, or brings their
   * limits in line) and checks that it answers. Processes call it at start, so that a
   * misconfigured store fails there and no client's first join waits for a stream to be
   * created. Rejects with `RF_HISTORY_UNAVAILABLE`.
   */
  ready(): Promise<void>;
  /** Releases what the instance holds (not the stored history). */
  close(): Promise<void>;
}

const NAME = /^[A-Za-z0-9_-]{1,32}$/;
const DEFAULT_MAX_MESSAGES = 100;
const DEFAULT_MAX_AGE_MS = 3_600_000;

/** Checks policies and fills in defaults. Throws `RF_INVALID_ARGUMENT`. */
export function resolvePolicies(policies: readonly HistoryPolicy[]): ResolvedPolicy[] {
  const names = new Set<string>();
  return policies.map((p) => {
    if (!Array.isArray(p.rooms) || p.rooms.length === 0 || !p.rooms.every(isPattern)) {
      throw invalid('a history policy needs `rooms`: a non-empty list of room patterns');
    }
    const maxMessages = p.maxMessages ?? DEFAULT_MAX_MESSAGES;
    const maxAgeMs = p.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (!Number.isSafeInteger(maxMessages) || maxMessages < 1) {
      throw invalid(`history maxMessages must be a positive integer, got ${maxMessages}`);
    }
    if (!Number.isSafeInteger(maxAgeMs) || maxAgeMs < 0) {
      throw invalid(`history maxAgeMs must be a non-negative integer, got ${maxAgeMs}`);
    }
    const name =
      p.name ?? createHash('sha256').update(JSON.stringify(p.rooms)).digest('hex').slice(0, 12);
    if (!NAME.test(name)) {
      throw invalid(`history policy name ${JSON.stringify(name)}: use 1-32 of A-Z a-z 0-9 _ -`);
    }
    if (names.has(name)) throw invalid(`two history policies are named ${name}`);
    names.add(name);
    return { name, rooms: [...p.rooms], maxMessages, maxAgeMs };
  });
}

/** The first policy whose patterns match `room`. */
export function policyFor(
  policies: readonly ResolvedPolicy[],
  room: string,
): ResolvedPolicy | undefined {
  for (const p of policies) if (matchesRoomPattern(p.rooms, room)) return p;
  return undefined;
}

/**
 * The policy of a room a history is asked about: throws `RF_HISTORY_UNAVAILABLE` once the
 * history is closed, `RF_INVALID_ARGUMENT` for a room no policy covers.
 */
export function requirePolicy(
  policies: readonly ResolvedPolicy[],
  room: string,
  closed: boolean,
): ResolvedPolicy {
  if (closed) throw historyUnavailable('the history is closed');
  const policy = policyFor(policies, room);
  if (!policy) throw invalid(`room ${JSON.stringify(room)} keeps no history`);
  return policy;
}

/** The stream (JetStream) or store (memory) of a policy. */
export function historyStream(policy: ResolvedPolicy): string {
  return `RF_HISTORY_${policy.name}`;
}

/** The subject a policy stores `room`'s entries under. */
export function historySubject(policy: ResolvedPolicy, room: string): string {
  return `rf.hist.${policy.name}.${roomToSubjectToken(room)}`;
}

/**
 * The offset of a live history message, 0 for a message without one (not from history),
 * -1 for an anchor (never delivered).
 */
export function historyOffset(headers: BusHeaders | undefined): number {
  const link = historyLink(headers);
  if (!link) return 0;
  return link.anchor ? -1 : link.offset;
}

/** Where a live history message sits in its stream, as its headers say. */
export interface HistoryLink {
  offset: number;
  /** The offset of the room's previous entry (0 for the first), anchors included. */
  previous: number;
  /** The stream that stored it (`Nats-Stream`), when named. */
  stream: string | undefined;
  /** An anchor: a position, never delivered. */
  anchor: boolean;
}

/** The {@link HistoryLink} of a live history message; undefined when not from history. */
export function historyLink(headers: BusHeaders | undefined): HistoryLink | undefined {
  if (!headers) return undefined;
  const offset = Number(headers.get(HistoryHeader.OFFSET));
  if (!(offset > 0)) return undefined;
  const previous = Number(headers.get(HistoryHeader.PREVIOUS) ?? 0);
  return {
    offset,
    previous: previous > 0 ? previous : 0,
    stream: headers.get(HistoryHeader.STREAM),
    anchor: headers.get(HistoryHeader.ANCHOR) !== undefined,
  };
}

/** The error of a history that could not be reached. */
export function historyUnavailable(what: string, cause?: unknown): RoomfabricError {
  const detail = cause instanceof Error && cause.message ? `: ${cause.message}` : '';
  return new RoomfabricError(ErrorCode.HISTORY_UNAVAILABLE, `${what}${detail}`, {
    cause,
    temporary: true,
  });
}

function isPattern(p: unknown): boolean {
  return typeof p === 'string' && p.length > 0;
}

function invalid(message: string): RoomfabricError {
  return new RoomfabricError(ErrorCode.INVALID_ARGUMENT, message);
}
