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
import { assertChannelName, ErrorCode, RoomfabricError } from '@roomfabric/protocol';

export interface MemoryChannelStoreOptions {
  /** Subscriptions one user may hold. Default 100 (`DEFAULT_MAX_CHANNELS_PER_USER`). */
  maxChannelsPerUser?: number;
}

/**
 * Channels in this process's memory: the embedded-mode store (`createEdge()` without a
 * bus and an index uses one). Every change is atomic, since it runs in one turn of the
 * event loop. Nothing survives the process, which is what embedded mode promises.
 */
export class MemoryChannelStore implements ChannelStore {
  private readonly channels = new Map<string, ChannelInfo>();
  /** channel -> users, and user -> channels: the two directions of one set of pairs. */
  private readonly subscribers = new Map<string, Set<string>>();
  private readonly ofUser = new Map<string, Set<string>>();
  private readonly maxChannelsPerUser: number;
  private closed = false;

  constructor(options: MemoryChannelStoreOptions = {}) {
    this.maxChannelsPerUser = maxChannelsOption(options.maxChannelsPerUser);
  }

  async create(name: string, meta?: ChannelMeta): Promise<ChannelInfo> {
    this.assertOpen();
    const stored = checkChannel(name, meta);
    const existing = this.channels.get(name);
    if (existing) {
      if (sameMeta(existing.meta, stored)) return copy(existing);
      throw new RoomfabricError(
        ErrorCode.CHANNEL_EXISTS,
        `channel ${JSON.stringify(name)} exists with other meta`,
        { details: { channel: name.slice(0, 64) } },
      );
    }
    const info: ChannelInfo = { name, meta: stored, createdAt: Date.now() };
    this.channels.set(name, info);
    this.subscribers.set(name, new Set());
    return copy(info);
  }

  async delete(name: string): Promise<ChannelDeletion> {
    this.assertOpen();
    assertChannelName(name);
    const existed = this.channels.delete(name);
    const users = [...(this.subscribers.get(name) ?? [])].sort();
    this.subscribers.delete(name);
    for (const user of users) this.dropPair(user, name);
    return { existed, unsubscribed: users };
  }

  async get(name: string): Promise<ChannelInfo | undefined> {
    this.assertOpen();
    assertChannelName(name);
    const info = this.channels.get(name);
    return info && copy(info);
  }

  async list(): Promise<ChannelInfo[]> {
    this.assertOpen();
    return [...this.channels.values()].map(copy).sort(byName);
  }

  async subscribe(user: string, channel: string): Promise<boolean> {
    this.assertOpen();
    assertUserId(user);
    assertChannelName(channel);
    const users = this.subscribers.get(channel);
    if (!users) throw channelNotFound(channel);
    if (users.has(user)) return false;
    const mine = this.ofUser.get(user) ?? new Set<string>();
    if (mine.size >= this.maxChannelsPerUser) throw channelLimit(user, this.maxChannelsPerUser);
    mine.add(channel);
    this.ofUser.set(user, mine);
    users.add(user);
    return true;
  }

  async unsubscribe(user: string, channel: string): Promise<boolean> {
    this.assertOpen();
    assertUserId(user);
    assertChannelName(channel);
    const had = this.subscribers.get(channel)?.delete(user) ?? false;
    this.dropPair(user, channel);
    return had;
  }

  async channelsOf(user: string): Promise<string[]> {
    this.assertOpen();
    assertUserId(user);
    return [...(this.ofUser.get(user) ?? [])].sort();
  }

  async subscribersOf(channel: string): Promise<string[]> {
    this.assertOpen();
    assertChannelName(channel);
    const users = this.subscribers.get(channel);
    if (!users) throw channelNotFound(channel);
    return [...users].sort();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private dropPair(user: string, channel: string): void {
    const mine = this.ofUser.get(user);
    if (!mine) return;
    mine.delete(channel);
    if (mine.size === 0) this.ofUser.delete(user);
  }

  private assertOpen(): void {
    if (this.closed) throw storeClosed();
  }
}

function copy(info: ChannelInfo): ChannelInfo {
  return { name: info.name, meta: structuredClone(info.meta), createdAt: info.createdAt };
}

function byName(a: ChannelInfo, b: ChannelInfo): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
