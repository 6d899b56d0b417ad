import { chooseRuntime, type Runtime } from './choose-runtime.js';
import { dockerHost } from './container-service.js';
import { disposeAll } from './dispose-all.js';
import { makeTempDir } from './child-registry.js';
import { freePorts, retryOnAddressInUse } from './free-port.js';
import {
  type NatsHandle,
  type NatsServerConfig,
  natsContainer,
  natsProcess,
  routedPeerCount,
} from './nats-server.js';
import { DEFAULT_READY_TIMEOUT_MS, type ExitInfo } from './service-handle.js';
import { waitReady } from './wait-ready.js';

/** A NATS cluster started by {@link startNatsCluster}. */
export interface NatsClusterHandle {
  /** The servers, named `nats-1` .. `nats-N`; kill and restart them one by one. */
  readonly servers: NatsHandle[];
  /** Client URLs of every server, in order. */
  readonly urls: string[];
  /** Stops every server (and the Docker network, in the container runtime). */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startNatsCluster}. */
export interface StartNatsClusterOptions {
  /** Extra nats-server arguments for every server. */
  args?: string[];
  /** Where to run it; default `RF_TESTKIT_RUNTIME` or `auto`. */
  runtime?: Runtime;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
  /**
   * Clustered JetStream: every server gets its own store (a temp dir that survives
   * `restart()`), so streams may have up to `size` replicas.
   */
  jetstream?: boolean;
}

type StartableNats = NatsHandle & { start(): Promise<void> };
type ClusterPorts = (i: number) => { port: number; route: (j: number) => string };

/**
 * Starts a real NATS cluster of `size` servers (default 3), each with a route to every
 * other, and resolves once every server's `/routez` lists all `size - 1` peers, so a
 * subscription on one server sees publishes made on another (once NATS has propagated the
 * interest, which it does asynchronously). A restarted member is ready once it is routed to
 * every peer that is running at that moment.
 *
 * @example
 * await using cluster = await startNatsCluster(3);
 * await cluster.servers[1].kill();
 */
export async function startNatsCluster(
  size = 3,
  options: StartNatsClusterOptions = {},
): Promise<NatsClusterHandle> {
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`startNatsCluster: size must be a positive integer, not ${size}`);
  }
  const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const choice = await chooseRuntime('nats-server', { runtime: options.runtime });
  if (choice.kind === 'process') {
    return retryOnAddressInUse(async () => {
      // Per server: client, monitor and route ports.
      const ports = await freePorts(size * 3);
      const storeDirs = options.jetstream
        ? await Promise.all(Array.from({ length: size }, () => makeTempDir('nats')))
        : undefined;
      const servers: StartableNats[] = [];
      const cluster: ClusterPorts = (i) => ({
        port: ports[i * 3 + 2] as number,
        route: (j) => `nats://127.0.0.1:${ports[j * 3 + 2]}`,
      });
      for (const config of members(size, ports, options, '127.0.0.1', cluster, servers)) {
        const storeDir = storeDirs?.[servers.length];
        servers.push(natsProcess(choice.path, { ...config, ...(storeDir && { storeDir }) }));
      }
      return startAll(servers, '127.0.0.1', timeoutMs);
    });
  }
  // Containers route to each other over a Docker network, by alias; only client and
  // monitor ports are published on the host.
  const host = await dockerHost();
  const { Network } = await import('testcontainers');
  const network = await new Network().start();
  try {
    const started = await retryOnAddressInUse(async () => {
      const ports = await freePorts(size * 2);
      const servers: StartableNats[] = [];
      const cluster: ClusterPorts = () => ({
        port: 6222,
        route: (j) => `nats://nats-${j + 1}:6222`,
      });
      for (const config of members(size, ports, options, host, cluster, servers)) {
        servers.push(natsContainer(config, network));
      }
      return startAll(servers, host, timeoutMs);
    });
    return {
      ...started,
      async [Symbol.asyncDispose]() {
        await started[Symbol.asyncDispose]();
        await network.stop();
      },
    };
  } catch (err) {
    await network.stop();
    throw err;
  }
}

/**
 * Member configs. `ports` holds the client and monitor ports of each server first in its
 * slot; `servers` is filled by the caller and read by the route readiness checks.
 */
function members(
  size: number,
  ports: number[],
  options: StartNatsClusterOptions,
  host: string,
  cluster: ClusterPorts,
  servers: readonly StartableNats[],
): NatsServerConfig[] {
  const stride = ports.length / size;
  const clusterName = `rf-test-${ports[0]}`;
  return Array.from({ length: size }, (_, i) => {
    const monitorPort = ports[i * stride + 1] as number;
    const peers = Array.from({ length: size }, (_, j) => j).filter((j) => j !== i);
    const { port, route } = cluster(i);
    return {
      name: `nats-${i + 1}`,
      host,
      port: ports[i * stride] as number,
      monitorPort,
      jetstream: options.jetstream ?? false,
      cluster: { name: clusterName, port, routes: peers.map(route) },
      args: options.args ?? [],
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
      extraReady: {
        what: '/routez lists every running peer',
        check: async () =>
          (await routedPeerCount(host, monitorPort)) >=
          peers.filter((j) => servers[j]?.running).length,
      },
    };
  });
}

/** Starts every server at once, then waits for the full mesh; cleans up on failure. */
async function startAll(
  servers: StartableNats[],
  host: string,
  timeoutMs: number,
): Promise<NatsClusterHandle> {
  const handle: NatsClusterHandle = {
    servers,
    urls: servers.map((server) => server.url),
    [Symbol.asyncDispose]: () => disposeAll([...servers].reverse()),
  };
  const results = await Promise.allSettled(servers.map((server) => server.start()));
  try {
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const peers = servers.length - 1;
    await waitReady({
      name: 'nats cluster',
      what: `/routez of every server lists ${peers} peers`,
      check: async () => {
        const counts = await Promise.all(
          servers.map((server) => routedPeerCount(host, server.monitorPort)),
        );
        return counts.every((count) => count >= peers);
      },
      exited: new Promise<ExitInfo>(() => {}),
      output: () => servers.map((server) => server.output()).join('\n'),
      timeoutMs,
    });
  } catch (err) {
    await handle[Symbol.asyncDispose]();
    throw err;
  }
  return handle;
}
