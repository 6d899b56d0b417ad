import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  jetstreamManager,
  StorageType,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsBus } from '@roomfabric/bus';
import {
  assertChannelName,
  ErrorCode,
  isRoomfabricError,
  RoomfabricError,
} from '@roomfabric/protocol';
import {
  assertUserId,
  channelLimit,
  channelNotFound,
  checkChannel,
  maxChannelsOption,
  sameMeta,
  storeClosed,
  type ChannelDeletion,
  type ChannelInfo,
  type ChannelMeta,
  type ChannelStore,
} from './channel-store.js';
import {
  ALL_CHANNELS,
  channelKey,
  lastToken,
  subscriptionKey,
  subscriptionsOf,
  userKey,
} from './kv-keys.js';

/** The NATS connection a store works on, e.g. `NatsBus.nc`. */
export type NatsConnection = NatsBus['nc'];

export interface KvChannelStoreOptions {
  /** The NATS connection to use (e.g. `bus.nc`). The store never closes it. */
  nc: NatsConnection;
  /** KV bucket name. Default `rf_channels`. */
  bucket?: string;
  /** Replicas of the bucket's stream, when the store creates it: 3 on a 3-server cluster. Default 1. */
  replicas?: number;
  /** Timeout of each JetStream request, ms. Default 2000. */
  timeoutMs?: number;
  /** Subscriptions one user may hold. Default 100 (`DEFAULT_MAX_CHANNELS_PER_USER`). */
  maxChannelsPerUser?: number;
  /** Users cleaned up in parallel by a delete. Default 32. */
  deleteConcurrency?: number;
}

export const DEFAULT_CHANNEL_BUCKET = 'rf_channels';

interface ChannelRecord {
  name: string;
  meta: ChannelMeta;
  createdAt: number;
  /** Incarnation: a channel deleted and created again is another channel. */
  inc: string;
}

/** The user's key: channel -> incarnation subscribed to. */
interface UserRecord {
  channels: Record<string, string>;
}

interface Handles {
  kv: KV;
  jsm: JetStreamManager;
}

interface Read<T> {
  value: T | undefined;
  /** Revision of the key's last message (a delete marker too); 0 when it never existed. */
  revision: number;
}

/** Compare-and-set attempts before `RF_CHANNEL_CONFLICT`. */
const MAX_ATTEMPTS = 20;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Channels in a NATS JetStream KV bucket: file storage, `replicas` copies, history 1
 * (docs/channels.md explains why here and not in Redis). The bucket is created (or
 * bound, when it exists) on first use, so constructing a store costs nothing.
 *
 * There are no multi-key transactions in KV, so the two directions (user -> channels,
 * channel -> users) are kept consistent by ordering and compare-and-set: the user's key
 * is the truth (changed only with CAS on its revision, retried on conflict); a
 * subscription key is written before the user's key changes and removed after, and every
 * write ends with {@link settle}, which re-reads the user's key until the subscription key
 * agrees with it. A channel has an incarnation id, so that a subscribe racing a delete
 * undoes itself, and a delete never removes a subscription to a channel created again.
 */
export class KvChannelStore implements ChannelStore {
  private readonly nc: NatsConnection;
  private readonly bucket: string;
  private readonly replicas: number;
  private readonly timeoutMs: number;
  private readonly maxChannelsPerUser: number;
  private readonly deleteConcurrency: number;
  private opening: Promise<Handles> | undefined;
  private closed = false;

  constructor(options: KvChannelStoreOptions) {
    this.nc = options.nc;
    this.bucket = options.bucket ?? DEFAULT_CHANNEL_BUCKET;
    if (!/^[-\w]+$/.test(this.bucket)) {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `invalid bucket name: ${this.bucket}`);
    }
    this.replicas = positiveInt('replicas', options.replicas, 1);
    this.timeoutMs = positiveInt('timeoutMs', options.timeoutMs, 2000);
    this.maxChannelsPerUser = maxChannelsOption(options.maxChannelsPerUser);
    this.deleteConcurrency = positiveInt('deleteConcurrency', options.deleteConcurrency, 32);
  }

  async create(name: string, meta?: ChannelMeta): Promise<ChannelInfo> {
    const stored = checkChannel(name, meta);
    const key = channelKey(name);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { value, revision } = await this.read<ChannelRecord>(key);
      if (value) {
        if (sameMeta(value.meta, stored)) return info(value);
        throw new RoomfabricError(
          ErrorCode.CHANNEL_EXISTS,
          `channel ${JSON.stringify(name)} exists with other meta`,
          { details: { channel: name.slice(0, 64) } },
        );
      }
      const record: ChannelRecord = { name, meta: stored, createdAt: Date.now(), inc: newId() };
      if (await this.casPut(key, record, revision)) return info(record);
      await backoff(attempt);
    }
    throw conflict(name);
  }

  async delete(name: string): Promise<ChannelDeletion> {
    assertChannelName(name);
    const key = channelKey(name);
    let existed = false;
    for (let attempt = 0; ; attempt++) {
      if (attempt === MAX_ATTEMPTS) throw conflict(name);
      const { value, revision } = await this.read<ChannelRecord>(key);
      if (!value) break;
      if (await this.casDelete(key, revision)) {
        existed = true;
        break;
      }
      await backoff(attempt);
    }
    // The channel is gone, so no subscribe can complete any more (each one checks after
    // writing). Every subscription has its `s.` key (written before the user's key), so
    // this finds them all, also those of an earlier delete that stopped half-way.
    const users = (await this.keys(subscriptionsOf(name))).map(lastToken);
    const unsubscribed: string[] = [];
    await forEachLimit(users, this.deleteConcurrency, async (user) => {
      if ((await this.settle(user, name)).dropped) unsubscribed.push(user);
    });
    return { existed, unsubscribed: unsubscribed.sort() };
  }

  async get(name: string): Promise<ChannelInfo | undefined> {
    assertChannelName(name);
    const { value } = await this.read<ChannelRecord>(channelKey(name));
    return value && info(value);
  }

  async list(): Promise<ChannelInfo[]> {
    const names = (await this.keys(ALL_CHANNELS)).map(lastToken);
    const found: ChannelInfo[] = [];
    await forEachLimit(names, this.deleteConcurrency, async (name) => {
      const { value } = await this.read<ChannelRecord>(channelKey(name));
      if (value) found.push(info(value));
    });
    return found.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async subscribe(user: string, channel: string): Promise<boolean> {
    assertUserId(user);
    assertChannelName(channel);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { value: record } = await this.read<ChannelRecord>(channelKey(channel));
      if (!record) throw channelNotFound(channel);
      // The reverse entry first: a delete that starts from now on finds this user.
      await this.put(subscriptionKey(channel, user), { inc: record.inc });
      let added = false;
      try {
        await this.updateUser(user, (channels) => {
          added = own(channels, channel) !== record.inc;
          if (!added) return undefined;
          if (
            own(channels, channel) === undefined &&
            Object.keys(channels).length >= this.maxChannelsPerUser
          ) {
            throw channelLimit(user, this.maxChannelsPerUser);
          }
          return { ...channels, [channel]: record.inc };
        });
      } catch (err) {
        // The reverse entry written above must not outlive a refusal.
        await this.settle(user, channel).catch(() => undefined);
        throw err;
      }
      if ((await this.settle(user, channel)).inc === record.inc) return added;
      // The channel was deleted (or deleted and created again) meanwhile, and settle
      // dropped what this call wrote: read the channel again.
    }
    throw conflict(channel);
  }

  async unsubscribe(user: string, channel: string): Promise<boolean> {
    assertUserId(user);
    assertChannelName(channel);
    let removed = false;
    await this.updateUser(user, (channels) => {
      removed = own(channels, channel) !== undefined;
      if (!removed) return undefined;
      const { [channel]: _dropped, ...rest } = channels;
      return rest;
    });
    await this.settle(user, channel);
    return removed;
  }

  async channelsOf(user: string): Promise<string[]> {
    assertUserId(user);
    const { value } = await this.read<UserRecord>(userKey(user));
    return Object.keys(value?.channels ?? {}).sort();
  }

  async subscribersOf(channel: string): Promise<string[]> {
    assertChannelName(channel);
    const { value } = await this.read<ChannelRecord>(channelKey(channel));
    if (!value) throw channelNotFound(channel);
    return (await this.keys(subscriptionsOf(channel))).map(lastToken).sort();
  }

  /**
   * Opens (or creates) the bucket now instead of on first use; rejects with
   * `RF_CHANNEL_STORE_UNAVAILABLE` when JetStream cannot serve it. For a process that
   * should fail at startup rather than refuse connections later.
   */
  async ready(): Promise<void> {
    await this.call(async () => undefined);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /**
   * Makes the subscription key of (user, channel) agree with the user's key, and drops a
   * subscription to a channel incarnation that no longer exists. It re-reads the user's
   * key after its own write until nothing changed in between, so whichever of several
   * concurrent writers settles last leaves both directions consistent. Resolves with the
   * incarnation the user is subscribed to (if any), and whether a dead one was dropped.
   */
  private async settle(
    user: string,
    channel: string,
  ): Promise<{ inc: string | undefined; dropped: boolean }> {
    const subKey = subscriptionKey(channel, user);
    let dropped = false;
    let inc = await this.userChannel(user, channel);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      if (inc === undefined) {
        await this.remove(subKey);
      } else {
        await this.put(subKey, { inc });
        // Checked after the put: a delete that started before it is seen here, one that
        // starts after it finds the subscription key.
        const { value: record } = await this.read<ChannelRecord>(channelKey(channel));
        if (record?.inc !== inc) {
          const dead = inc;
          await this.updateUser(user, (channels) => {
            if (own(channels, channel) !== dead) return undefined;
            dropped = true;
            const { [channel]: _dropped, ...rest } = channels;
            return rest;
          });
          inc = await this.userChannel(user, channel);
          continue;
        }
      }
      const again = await this.userChannel(user, channel);
      if (again === inc) return { inc, dropped };
      inc = again;
    }
    throw conflict(channel);
  }

  private async userChannel(user: string, channel: string): Promise<string | undefined> {
    const { value } = await this.read<UserRecord>(userKey(user));
    return value && own(value.channels, channel);
  }

  /** Changes the user's key with compare-and-set, retried; `change` returns undefined for "no change". */
  private async updateUser(
    user: string,
    change: (channels: Record<string, string>) => Record<string, string> | undefined,
  ): Promise<void> {
    const key = userKey(user);
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const { value, revision } = await this.read<UserRecord>(key);
      const next = change(value?.channels ?? {});
      if (next === undefined) return;
      if (await this.casPut(key, { channels: next } satisfies UserRecord, revision)) return;
      await backoff(attempt);
    }
    throw conflict(user);
  }

  private handles(): Promise<Handles> {
    if (this.closed) return Promise.reject(storeClosed());
    if (!this.opening) {
      const js = jetstream(this.nc, { timeout: this.timeoutMs });
      this.opening = Promise.all([
        new Kvm(js).create(this.bucket, {
          history: 1,
          storage: StorageType.File,
          replicas: this.replicas,
          // Reads go to the stream leader: a direct get may be answered by a lagging
          // replica, and both the CAS loops and the connect-path read must see the last
          // write (docs/channels.md, "Ordering").
          allow_direct: false,
        }),
        jetstreamManager(this.nc, { timeout: this.timeoutMs, checkAPI: false }),
      ]).then(([kv, jsm]) => ({ kv, jsm }));
      // A failed open is tried again by the next call (JetStream may be back by then).
      this.opening.catch(() => (this.opening = undefined));
    }
    return this.opening;
  }

  private async read<T>(key: string): Promise<Read<T>> {
    return this.call(async (kv) => {
      const entry = await kv.get(key);
      if (!entry) return { value: undefined, revision: 0 };
      if (entry.operation !== 'PUT') return { value: undefined, revision: entry.revision };
      return { value: JSON.parse(decoder.decode(entry.value)) as T, revision: entry.revision };
    });
  }

  private put(key: string, value: unknown): Promise<number> {
    return this.call((kv) => kv.put(key, encoder.encode(JSON.stringify(value))));
  }

  /**
   * Removes a key without leaving a delete marker (a purge of its subject), so that
   * {@link keys} does not list it. Only for subscription keys, which take no CAS.
   */
  private async remove(key: string): Promise<void> {
    await this.call((_kv, jsm) => jsm.streams.purge(this.stream, { filter: this.subject(key) }));
  }

  /** Writes only if the key's last revision is `revision` (0: never written); false on conflict. */
  private casPut(key: string, value: unknown, revision: number): Promise<boolean> {
    return this.call(async (kv) => {
      try {
        await kv.put(key, encoder.encode(JSON.stringify(value)), { previousSeq: revision });
        return true;
      } catch (err) {
        if (isWrongRevision(err)) return false;
        throw err;
      }
    });
  }

  private casDelete(key: string, revision: number): Promise<boolean> {
    return this.call(async (kv) => {
      try {
        await kv.delete(key, { previousSeq: revision });
        return true;
      } catch (err) {
        if (isWrongRevision(err)) return false;
        throw err;
      }
    });
  }

  /**
   * The keys matching `filter` that hold a message (a delete marker counts), as one
   * point-in-time answer of the stream's leader. Not `kv.keys()`: its consumer keeps
   * delivering writes made while it runs, so under concurrent writers it repeats keys and
   * may wait for an idle heartbeat before it ends.
   */
  private keys(filter: string): Promise<string[]> {
    return this.call(async (_kv, jsm) => {
      const info = await jsm.streams.info(this.stream, { subjects_filter: this.subject(filter) });
      const prefix = this.subject('').length;
      return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(prefix));
    });
  }

  private get stream(): string {
    return `KV_${this.bucket}`;
  }

  private subject(key: string): string {
    return `$KV.${this.bucket}.${key}`;
  }

  private async call<T>(op: (kv: KV, jsm: JetStreamManager) => Promise<T>): Promise<T> {
    try {
      const { kv, jsm } = await this.handles();
      return await op(kv, jsm);
    } catch (err) {
      if (isRoomfabricError(err)) throw err;
      throw new RoomfabricError(
        ErrorCode.CHANNEL_STORE_UNAVAILABLE,
        `channel store (KV bucket ${this.bucket}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err, temporary: true },
      );
    }
  }
}

function isWrongRevision(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

/** `channels[name]`, own properties only: a channel may be called `constructor` or `__proto__`. */
function own(channels: Record<string, string>, name: string): string | undefined {
  return Object.hasOwn(channels, name) ? channels[name] : undefined;
}

function info(record: ChannelRecord): ChannelInfo {
  return { name: record.name, meta: record.meta, createdAt: record.createdAt };
}

function newId(): string {
  return randomBytes(9).toString('base64url');
}

function conflict(what: string): RoomfabricError {
  return new RoomfabricError(
    ErrorCode.CHANNEL_CONFLICT,
    `too many concurrent changes to ${JSON.stringify(what.slice(0, 64))}; retry`,
    { temporary: true },
  );
}

/** A short random pause after a lost compare-and-set, growing with the attempts. */
function backoff(attempt: number): Promise<void> {
  return sleep(Math.random() * 2 ** Math.min(attempt, 6));
}

function positiveInt(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value <= 0) {
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `${name} must be a positive integer`);
  }
  return value;
}

async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
