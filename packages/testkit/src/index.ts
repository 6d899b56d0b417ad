/**
 * @roomfabric/testkit: real nats-server, redis-server, membership and edge processes on free
 * ports, with readiness checks that notice an early exit and handles that kill and restart
 * them. Every handle is disposable (`await using`); children left running are SIGKILLed
 * when the test process exits.
 */
export { type ServiceHandle, type ExitInfo, DEFAULT_READY_TIMEOUT_MS } from './service-handle.js';
export { freePort, freePorts, isAddressInUse } from './free-port.js';
export { type NatsHandle, NATS_IMAGE } from './nats-server.js';
export { startNats, type StartNatsOptions } from './start-nats.js';
export {
  startNatsCluster,
  type NatsClusterHandle,
  type StartNatsClusterOptions,
} from './start-nats-cluster.js';
export {
  startRedis,
  type RedisHandle,
  type StartRedisOptions,
  REDIS_IMAGE,
} from './start-redis.js';
export {
  startRedisCluster,
  type RedisClusterHandle,
  type RedisClusterNode,
  type RedisClusterRole,
  type RedisClusterSlotRange,
  type RedisClusterWaitOptions,
  type StartRedisClusterOptions,
  REDIS_CLUSTER_SLOTS,
} from './start-redis-cluster.js';
export { redisCommand, RespReplyError, type RespValue } from './resp.js';
export {
  startMembership,
  type StartMembershipOptions,
  MEMBERSHIP_READY_TEXT,
} from './start-membership.js';
export { startEdge, type EdgeHandle, type StartEdgeOptions } from './start-edge.js';
export { startCluster, type ClusterHandle, type StartClusterOptions } from './start-cluster.js';
export { resolveCliBin } from './cli-bin.js';
export { findBinary } from './find-binary.js';
export {
  dockerAvailable,
  type DockerAvailableOptions,
  DOCKER_PROBE_TIMEOUT_MS,
} from './docker-available.js';
export {
  chooseRuntime,
  missingBinaryMessage,
  type Runtime,
  type RuntimeChoice,
  type ChooseRuntimeOptions,
} from './choose-runtime.js';
export { eventually, type EventuallyOptions } from './eventually.js';
export { signTestToken, TEST_JWT_SECRET, type TestTokenOptions } from './jwt.js';
