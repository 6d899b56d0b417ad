/**
 * @roomfabric/server: the API for backends that hold no sockets (`createServer`): emit to
 * rooms and users, read the index, act on sockets anywhere, raids, presence, channels. The
 * cluster logic under it is `@roomfabric/fabric`; what a backend needs of it is re-exported
 * here, so a backend depends on this package alone.
 */
export { createServer, RoomfabricServer } from './server.js';
export type { ServerOptions } from './server.js';
export {
  Channels,
  createJsonLogger,
  logLevelFromEnv,
  LOG_LEVELS,
  Operator,
  PRESENCE_EVENT,
  RemoteSocket,
} from '@roomfabric/fabric';
export type {
  JsonLoggerOptions,
  Logger,
  LogLevel,
  PresenceEvent,
  PresenceMember,
  PresenceNotice,
  PresenceStats,
} from '@roomfabric/fabric';
export { DEFAULT_CHANNEL_BUCKET, KvChannelStore, MemoryChannelStore } from '@roomfabric/channels';
export type {
  ChannelDeletion,
  ChannelInfo,
  ChannelMeta,
  ChannelStore,
  KvChannelStoreOptions,
  MemoryChannelStoreOptions,
} from '@roomfabric/channels';
export type { RaidReport } from '@roomfabric/protocol';
