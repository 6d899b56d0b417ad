import { makeTempDir, removeTempDir } from './child-registry.js';
import { chooseRuntime, type Runtime } from './choose-runtime.js';
import { ContainerService, dockerHost } from './container-service.js';
import { freePort, retryOnAddressInUse } from './free-port.js';
import { ProcessService } from './process-service.js';
import { redisPing, redisServerPid } from './probes.js';
import { type ServiceHandle } from './service-handle.js';

/** A Redis server started by the testkit. */
export interface RedisHandle extends ServiceHandle {
  /** e.g. `redis://127.0.0.1:6379`. */
  readonly url: string;
  /** Port (kept across restarts). */
  readonly port: number;
}

/** Options of {@link startRedis}. */
export interface StartRedisOptions {
  /** Port; default a free one. */
  port?: number;
  /** Extra redis-server arguments. */
  args?: string[];
  /** Handle name; default `redis`. */
  name?: string;
  /** Where to run it; default `RF_TESTKIT_RUNTIME` or `auto`. */
  runtime?: Runtime;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
}

/** Image used when redis-server is not on PATH and Docker answers. */
export const REDIS_IMAGE = 'redis:7-alpine';

/** No RDB snapshots, no AOF: a restarted Redis is always EMPTY (the "Redis lost" case). */
export const EPHEMERAL = ['--save', '', '--appendonly', 'no'];

/**
 * Starts a Redis server with persistence off and resolves once a raw `PING` gets `+PONG`.
 * Fails fast, quoting the server's output, if it exits first. `restart()` gives an empty
 * Redis on the same port.
 *
 * @example
 * await using redis = await startRedis();
 * const client = new Redis(redis.url);
 */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisHandle> {
  const { args = [], name = 'redis', timeoutMs } = options;
  const choice = await chooseRuntime('redis-server', { runtime: options.runtime });
  const host = choice.kind === 'docker' ? await dockerHost() : '127.0.0.1';
  // A process gets its own working dir, so nothing lands in the test's cwd.
  const runtime =
    choice.kind === 'process' ? { ...choice, dir: await makeTempDir('redis') } : choice;
  try {
    return await retryOnAddressInUse(async () => {
      const port = options.port ?? (await freePort());
      const readyWhat = `PING -> +PONG on ${host}:${port}`;
      const common = { name, readyWhat, ...(timeoutMs !== undefined && { timeoutMs }) };
      const service =
        runtime.kind === 'process'
          ? new ProcessService({
              ...common,
              // The pid check makes sure the answer comes from our redis-server.
              readyWhat: `${readyWhat} from our pid`,
              ready: async (pid) => (await redisServerPid(host, port)) === pid,
              command: runtime.path,
              args: [
                '--port',
                String(port),
                '--bind',
                host,
                ...EPHEMERAL,
                '--dir',
                runtime.dir,
                ...args,
              ],
              tempDir: runtime.dir,
            })
          : new ContainerService({
              ...common,
              ready: () => redisPing(host, port),
              build: (tc) =>
                new tc.GenericContainer(REDIS_IMAGE)
                  .withCommand(['redis-server', ...EPHEMERAL, ...args])
                  .withExposedPorts({ container: 6379, host: port })
                  .withWaitStrategy(tc.Wait.forLogMessage('Ready to accept connections')),
            });
      await service.start();
      return Object.assign(service, { url: `redis://${host}:${port}`, port });
    });
  } catch (err) {
    if (runtime.kind === 'process') await removeTempDir(runtime.dir);
    throw err;
  }
}
