import {
  assertChannelName,
  ErrorCode,
  roomIdProblem,
  RoomfabricError,
  userRoom,
} from '@roomfabric/protocol';

/** Application data kept with a channel (title, topic, owner, ...): a JSON object. */
export type ChannelMeta = Record<string, unknown>;

/** A channel as the store holds it. */
export interface ChannelInfo {
  readonly name: string;
  readonly meta: ChannelMeta;
  /** When the channel was created, ms since the epoch. */
  readonly createdAt: number;
}

/** What {@link ChannelStore.delete} did. */
export interface ChannelDeletion {
  /** False when there was no such channel (a delete still finishes a half-done earlier one). */
  existed: boolean;
  /** The users whose subscription the delete removed, sorted. */
  unsubscribed: string[];
}

/**
 * Where persistent channels and the durable subscriptions of users to them live
 * (docs/channels.md). A channel exists with no members; it is created and deleted
 * explicitly; a subscription survives restarts of every process, and the edge reads a
 * user's channels once per connection ({@link channelsOf}) to auto-join them.
 *
 * Names follow the room id rules (`assertChannelName`, `RF_ROOM_INVALID`); a user id must
 * make a valid personal room (`RF_INVALID_ARGUMENT`). Every method may go remote and
 * rejects with `RF_CHANNEL_STORE_UNAVAILABLE` (temporary) when the store cannot be
 * reached. Implementations: `MemoryChannelStore` (embedded mode), `KvChannelStore`
 * (NATS JetStream KV); both pass one contract suite.
 */
export interface ChannelStore {
  /**
   * Creates a channel. Idempotent: creating an existing channel with the same `meta`
   * (compared as JSON, key order aside) resolves with the existing one; with other
   * `meta` it rejects with `RF_CHANNEL_EXISTS`.
   */
  create(name: string, meta?: ChannelMeta): Promise<ChannelInfo>;
  /**
   * Deletes a channel and every subscription to it; after it resolves no user has the
   * channel in {@link channelsOf}. Deleting a missing channel is not an error.
   */
  delete(name: string): Promise<ChannelDeletion>;
  get(name: string): Promise<ChannelInfo | undefined>;
  /** Every channel, sorted by name. */
  list(): Promise<ChannelInfo[]>;
  /**
   * Subscribes `user` to `channel`, durably. Resolves with false when it already was.
   * Rejects with `RF_CHANNEL_NOT_FOUND` when the channel does not exist (or is deleted
   * meanwhile), `RF_ROOM_LIMIT` past `maxChannelsPerUser`.
   */
  subscribe(user: string, channel: string): Promise<boolean>;
  /** Removes a subscription. Resolves with false when there was none. */
  unsubscribe(user: string, channel: string): Promise<boolean>;
  /** The channels of `user`, sorted: one read, made by the edge on every connect. */
  channelsOf(user: string): Promise<string[]>;
  /** The users subscribed to `channel`, sorted. `RF_CHANNEL_NOT_FOUND` for a missing channel. */
  subscribersOf(channel: string): Promise<string[]>;
  /** Releases what the store opened (never a connection it was given). */
  close(): Promise<void>;
}

/**
 * Subscriptions one user may hold by default. Below the edge's `maxRoomsPerSocket` (128),
 * so that a socket joins all of its channels and still has room for its personal room and
 * rooms of its own.
 */
export const DEFAULT_MAX_CHANNELS_PER_USER = 100;

/** Largest `meta` of a channel, as JSON bytes. */
export const MAX_CHANNEL_META_BYTES = 16 * 1024;

/** Throws `RF_INVALID_ARGUMENT` unless `user` is a user id with a valid personal room. */
export function assertUserId(user: unknown): asserts user is string {
  if (typeof user !== 'string' || user.length === 0) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'a user id must be a non-empty string');
  }
  const problem = roomIdProblem(userRoom(user));
  if (problem !== undefined) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `user id ${JSON.stringify(user.slice(0, 64))} makes no valid personal room: ${problem}`,
    );
  }
}

/**
 * Checks a channel name and `meta`; returns `meta` as it will be stored (a JSON round
 * trip, `{}` when absent), so that every store returns the same thing.
 */
export function checkChannel(name: unknown, meta: unknown = {}): ChannelMeta {
  assertChannelName(name);
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'channel meta must be a JSON object');
  }
  let json: string;
  try {
    json = JSON.stringify(meta);
  } catch (cause) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'channel meta must be JSON', { cause });
  }
  if (Buffer.byteLength(json) > MAX_CHANNEL_META_BYTES) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `channel meta must be at most ${MAX_CHANNEL_META_BYTES} bytes of JSON`,
    );
  }
  return JSON.parse(json) as ChannelMeta;
}

/** True when two stored metas are the same JSON value, whatever the order of keys. */
export function sameMeta(a: ChannelMeta, b: ChannelMeta): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The error for a channel that does not exist. */
export function channelNotFound(name: string): RoomfabricError {
  return new RoomfabricError(ErrorCode.CHANNEL_NOT_FOUND, `no channel ${JSON.stringify(name)}`, {
    details: { channel: name.slice(0, 64) },
  });
}

/** The error for a subscription past the per-user limit. */
export function channelLimit(user: string, limit: number): RoomfabricError {
  return new RoomfabricError(
    ErrorCode.ROOM_LIMIT,
    `user ${JSON.stringify(user.slice(0, 64))} may subscribe to at most ${limit} channels`,
    { details: { limit } },
  );
}

/** The error for every call on a closed store. */
export function storeClosed(): RoomfabricError {
  return new RoomfabricError(ErrorCode.CHANNEL_STORE_UNAVAILABLE, 'the channel store is closed', {
    temporary: false,
  });
}

/** Checks a `maxChannelsPerUser` option. */
export function maxChannelsOption(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_CHANNELS_PER_USER;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      'maxChannelsPerUser must be a positive integer',
    );
  }
  return value;
}
