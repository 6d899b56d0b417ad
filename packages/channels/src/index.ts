/**
 * @roomfabric/channels: where persistent channels and users' subscriptions live
 * (docs/channels.md): the `ChannelStore` role, kept in the process (`MemoryChannelStore`)
 * or in JetStream KV (`KvChannelStore`).
 */
export {
  assertUserId,
  DEFAULT_MAX_CHANNELS_PER_USER,
  MAX_CHANNEL_META_BYTES,
} from './channel-store.js';
export type { ChannelDeletion, ChannelInfo, ChannelMeta, ChannelStore } from './channel-store.js';
export { MemoryChannelStore } from './memory-channel-store.js';
export type { MemoryChannelStoreOptions } from './memory-channel-store.js';
export { DEFAULT_CHANNEL_BUCKET, KvChannelStore } from './kv-channel-store.js';
export type { KvChannelStoreOptions } from './kv-channel-store.js';
