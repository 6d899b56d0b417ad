export { createServer, RoomfabricServer } from './server.js';
export type { ServerOptions } from './server.js';
export { Channels } from './channels/channels.js';
export {
  assertUserId,
  DEFAULT_MAX_CHANNELS_PER_USER,
  MAX_CHANNEL_META_BYTES,
} from './channels/channel-store.js';
export type {
  ChannelDeletion,
  ChannelInfo,
  ChannelMeta,
  ChannelStore,
} from './channels/channel-store.js';
export { MemoryChannelStore } from './channels/memory-channel-store.js';
export type { MemoryChannelStoreOptions } from './channels/memory-channel-store.js';
export { DEFAULT_CHANNEL_BUCKET, KvChannelStore } from './channels/kv-channel-store.js';
export type { KvChannelStoreOptions } from './channels/kv-channel-store.js';
export { Operator } from './operator.js';
export type { OperatorHost } from './operator.js';
export { checkRooms, RemoteSocket } from './remote-socket.js';
export { Fabric } from './fabric.js';
export type { FabricOptions, Selection } from './fabric.js';
export { runRaid } from './raid.js';
export type { RaidReport } from './raid.js';
export { MembershipService, SERVICE_QUEUE } from './service.js';
export type { MembershipServiceOptions, MembershipServiceStats } from './service.js';
export {
  indexCallHistogram,
  INDEX_CALL_BUCKETS,
  RAID_BUCKETS,
  scrapedCounter,
  ServiceMetrics,
} from './service-metrics.js';
export type { IndexCallObserver, ServiceMetricsOptions } from './service-metrics.js';
export { createJsonLogger, logLevelFromEnv, LOG_LEVELS } from './logger.js';
export type { JsonLoggerOptions, Logger, LogLevel } from './logger.js';
export { purgeNodeSockets } from './purge.js';
export type { PurgeOptions } from './purge.js';
export { publishRoomEvents } from './room-events.js';
export {
  infoOf,
  PRESENCE_EVENT,
  publishPresenceEvents,
  subscribePresence,
} from './presence-events.js';
export type {
  PresenceEvent,
  PresenceMember,
  PresenceNotice,
  PresenceOptions,
  PresenceStats,
} from './presence-events.js';
