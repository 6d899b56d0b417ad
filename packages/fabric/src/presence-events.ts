import { encode } from '@msgpack/msgpack';
import type { Bus } from '@roomfabric/bus';
import type {
  Membership,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
} from '@roomfabric/membership';
import {
  BusMessageType,
  decodeBusMessage,
  encodeBusMessage,
  matchesRoomPattern,
  Subject,
} from '@roomfabric/protocol';
import type { Logger } from './logger.js';

export type { PresenceEvent, PresenceMember, PresenceStats };

/** Event name of the presence events delivered to the members of a presence room. */
export const PRESENCE_EVENT = '$presence';

/** What the members of a presence room get with each `$presence` event. */
export interface PresenceNotice {
  kind: 'join' | 'leave';
  user: string;
  /** `socket.data.info` of the socket that made the transition (the token's `rf.info`), or null. */
  info: unknown;
}

/** Which rooms tell their own members about presence (EdgeOptions / FabricService `presence`). */
export interface PresenceOptions {
  /**
   * Room patterns (`*` matches any run of characters, as in token grants) whose members get
   * a `$presence` event for each join and leave. Every other room's presence is still
   * published to backends (`server.onPresence`) and readable (`server.presence`).
   */
  rooms: readonly string[];
}

/** Presence rooms of each wired membership instance (the union of every caller's). */
const wired = new WeakMap<Membership, string[]>();

/**
 * Publishes the presence transitions of `membership` (decided by the index, atomically
 * with each change): every one on `rf.evt.presence.<room>` for backends, and, for rooms
 * matching `options.rooms`, a `$presence` broadcast to the room's own members. Each change
 * runs in exactly one membership instance, and an instance is wired once however many
 * components share it (their room patterns add up), so each event is published once.
 */
export function publishPresenceEvents(
  membership: Membership,
  bus: Bus,
  logger: Logger,
  options?: PresenceOptions,
): void {
  const known = wired.get(membership);
  if (known) {
    for (const pattern of options?.rooms ?? []) if (!known.includes(pattern)) known.push(pattern);
    return;
  }
  const patterns = [...(options?.rooms ?? [])];
  wired.set(membership, patterns);
  membership.onPresence((event) => {
    const failed = (err: unknown) =>
      logger.warn(
        { err, room: event.room, kind: event.kind },
        'could not publish a presence event',
      );
    bus.publish(Subject.presence(event.room), encodePresenceEvent(event)).catch(failed);
    if (patterns.length > 0 && matchesRoomPattern(patterns, event.room)) {
      bus.publish(Subject.room(event.room), encodePresenceBroadcast(event)).catch(failed);
    }
  });
}

/** The bus message for backends. */
function encodePresenceEvent(event: PresenceEvent): Uint8Array {
  return encodeBusMessage({ type: BusMessageType.PRESENCE_EVENT, ...event });
}

/** A plain room broadcast of `$presence` (an event name only the fabric may send). */
function encodePresenceBroadcast(event: PresenceEvent): Uint8Array {
  const notice: PresenceNotice = { kind: event.kind, user: event.user, info: infoOf(event.data) };
  return encodeBusMessage({
    type: BusMessageType.BROADCAST,
    rooms: [event.room],
    except: [],
    exceptSocket: null,
    flags: 0,
    event: PRESENCE_EVENT,
    data: encode(notice),
  });
}

/**
 * Calls `handler` for each presence event on the bus: one room's, or every room's when
 * `room` is undefined. Malformed messages are logged at debug level and dropped. Resolves
 * with a function that stops it.
 */
export async function subscribePresence(
  bus: Bus,
  logger: Logger,
  handler: (event: PresenceEvent) => void,
  room?: string,
): Promise<() => void> {
  const subject = room === undefined ? Subject.allPresence : Subject.presence(room);
  const sub = await bus.subscribe(subject, (payload) => {
    let event: PresenceEvent;
    try {
      const msg = decodeBusMessage(payload);
      if (msg.type !== BusMessageType.PRESENCE_EVENT) throw new Error('not a presence event');
      const { type: _type, ...rest } = msg;
      event = rest;
    } catch (err) {
      logger.debug({ err }, 'dropped a malformed presence event');
      return;
    }
    try {
      handler(event);
    } catch (err) {
      logger.warn({ err, room: event.room }, 'a presence handler threw');
    }
  });
  return () => sub.unsubscribe();
}

/** `data.info` of a socket's data, or null. */
export function infoOf(data: unknown): unknown {
  return typeof data === 'object' && data !== null && 'info' in data
    ? ((data as { info?: unknown }).info ?? null)
    : null;
}
