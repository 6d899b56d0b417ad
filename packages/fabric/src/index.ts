/**
 * @roomfabric/fabric: the cluster core, written once for every process that acts on the
 * fabric. `Fabric` broadcasts and answers selections from the index; `Operator` is the
 * `to/in/except/volatile` selection API; `RemoteSocket` a socket on any node; `runRaid`
 * and `purgeNodeSockets` the two index-wide operations; `FabricService` runs them for
 * the cluster; room and presence events are published from the index's decisions. The
 * edge (`@roomfabric/edge`) and the backend API (`@roomfabric/server`) both sit on it.
 */
export { Fabric } from './fabric.js';
export type { FabricOptions, Selection } from './fabric.js';
export { Operator } from './operator.js';
export type { OperatorHost } from './operator.js';
export { RemoteSocket } from './remote-socket.js';
export { Channels } from './channels.js';
export { runRaid } from './raid.js';
export { purgeNodeSockets } from './purge.js';
export type { PurgeOptions } from './purge.js';
export { FabricService, SERVICE_QUEUE } from './fabric-service.js';
export type { FabricServiceOptions } from './fabric-service.js';
export {
  indexCallHistogram,
  INDEX_CALL_BUCKETS,
  RAID_BUCKETS,
  scrapedCounter,
  ServiceMetrics,
} from './service-metrics.js';
export type {
  IndexCallObserver,
  FabricServiceStats,
  ServiceMetricsOptions,
} from './service-metrics.js';
export { createJsonLogger, createRecordingLogger, logLevelFromEnv, LOG_LEVELS } from './logger.js';
export type {
  JsonLoggerOptions,
  LoggedEntry,
  Logger,
  LogLevel,
  RecordingLogger,
} from './logger.js';
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
