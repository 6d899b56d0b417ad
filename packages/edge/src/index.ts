export { createEdge, Edge } from './edge.js';
export { hardenHttpServer, LISTEN_BACKLOG } from './http-server.js';
export type { EdgeEvents, FabricSocket, Middleware } from './edge.js';
export type { EdgeCounters, EdgeStats } from './stats.js';
export { Socket } from './socket.js';
export type { Ack, DisconnectReason, EventHandler, Handshake, SocketState } from './socket.js';
export type { ClientPolicy, ClientPolicyOption, EdgeOptions } from './options.js';
export type { EdgeLimits } from './limits.js';
export { DEFAULT_EDGE_LIMITS } from './limits.js';
export { DEFAULT_TRUSTED_PROXIES, trustedProxyList } from './connection-limits.js';
export type { TrustedProxies } from './connection-limits.js';
export { EdgeMetrics, metricsFor } from './metrics.js';
export type { EdgeMetricsOptions, MetricsSource } from './metrics.js';
export type { OperationalView } from './http.js';
export {
  createJsonLogger,
  logLevelFromEnv,
  LOG_LEVELS,
  Operator,
  RemoteSocket,
} from '@roomfabric/fabric';
export type { JsonLoggerOptions, Logger, LogLevel } from '@roomfabric/fabric';
export type { RaidReport } from '@roomfabric/protocol';
export { JwtVerifier } from './jwt-auth.js';
export type { AuthGrant, JwtAuthOptions } from './jwt-auth.js';
export { TickStream } from './tick-stream.js';
export type { TickStreamOptions } from './tick-stream.js';
