export { createEdge, Edge } from './edge.js';
export type { EdgeCounters, EdgeEvents, EdgeStats, Middleware } from './edge.js';
export { Socket } from './socket.js';
export type { Ack, DisconnectReason, EventHandler, Handshake, SocketState } from './socket.js';
export { BroadcastOperator } from './operator.js';
export type { ClientPolicy, ClientPolicyOption, EdgeLimits, EdgeOptions } from './options.js';
export { DEFAULT_EDGE_LIMITS } from './options.js';
export { createJsonLogger, logLevelFromEnv, LOG_LEVELS } from './logger.js';
export type { JsonLoggerOptions, Logger, LogLevel } from './logger.js';
