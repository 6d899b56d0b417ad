import type { StartedNetwork } from 'testcontainers';
import { type Testcontainers, ContainerService } from './container-service.js';
import { httpJson, httpOk, natsInfo } from './probes.js';
import { ProcessService } from './process-service.js';
import { type ServiceHandle } from './service-handle.js';

/** A NATS server started by the testkit. */
export interface NatsHandle extends ServiceHandle {
  /** Client URL, e.g. `nats://127.0.0.1:4222`. */
  readonly url: string;
  /** Client port (kept across restarts). */
  readonly port: number;
  /** HTTP monitoring port: `/healthz`, `/varz`, `/routez`, `/subsz`. */
  readonly monitorPort: number;
}

/** Image used when nats-server is not on PATH and Docker answers. */
export const NATS_IMAGE = 'nats:2.10-alpine';

/** Everything needed to run one NATS server (internal). */
export interface NatsServerConfig {
  name: string;
  /** Host that the client and monitor ports are reached on (and bound to, for processes). */
  host: string;
  port: number;
  monitorPort: number;
  jetstream: boolean;
  /** JetStream store dir of a process (a temp dir, removed on dispose). */
  storeDir?: string;
  cluster?: { name: string; port: number; routes: string[] };
  args: readonly string[];
  timeoutMs?: number;
  /** Readiness beyond `/healthz`, e.g. routes to every running peer. */
  extraReady?: { what: string; check: () => Promise<boolean> };
}

/** nats-server command-line arguments. */
export function natsArgs(o: {
  bind: string;
  port: number;
  monitorPort: number;
  name: string;
  storeDir?: string;
  cluster?: NatsServerConfig['cluster'];
  args: readonly string[];
}): string[] {
  const args = ['-a', o.bind, '-p', String(o.port), '-m', String(o.monitorPort), '-n', o.name];
  if (o.storeDir !== undefined) args.push('-js', '-sd', o.storeDir);
  if (o.cluster) {
    const { name, port, routes } = o.cluster;
    args.push('--cluster', `nats://${o.bind}:${port}`, '--cluster_name', name);
    if (routes.length > 0) args.push('--routes', routes.join(','));
  }
  return [...args, ...o.args];
}

/**
 * Number of distinct servers this server has a route to. NATS 2.10 pools several route
 * connections per peer, so `num_routes` overcounts; `remote_id` does not.
 */
export async function routedPeerCount(host: string, monitorPort: number): Promise<number> {
  const routez = await httpJson(`http://${host}:${monitorPort}/routez`);
  const routes = Array.isArray(routez.routes) ? (routez.routes as { remote_id?: unknown }[]) : [];
  return new Set(routes.map((route) => route.remote_id)).size;
}

/**
 * Whether the server on the client port is the one behind the monitor port: a port taken
 * by another NATS between `freePort()` and the bind must not pass for ours.
 */
async function sameServer({ host, port, monitorPort }: NatsServerConfig): Promise<boolean> {
  const varz = await httpJson(`http://${host}:${monitorPort}/varz`);
  return varz.server_id === (await natsInfo(host, port)).server_id;
}

function readiness(config: NatsServerConfig) {
  const healthz = `http://${config.host}:${config.monitorPort}/healthz`;
  const extra = config.extraReady;
  return {
    readyWhat: `GET ${healthz} -> 200, INFO on port ${config.port} from the same server${extra ? `, ${extra.what}` : ''}`,
    ready: async () =>
      (await httpOk(healthz)) && (await sameServer(config)) && (extra ? await extra.check() : true),
  };
}

function handle(service: ServiceHandle & { start(): Promise<void> }, config: NatsServerConfig) {
  return Object.assign(service, {
    url: `nats://${config.host}:${config.port}`,
    port: config.port,
    monitorPort: config.monitorPort,
  });
}

/** A nats-server child process, not yet started. */
export function natsProcess(path: string, config: NatsServerConfig) {
  const { readyWhat, ready } = readiness(config);
  const args = natsArgs({ ...config, bind: config.host });
  const service = new ProcessService({
    name: config.name,
    command: path,
    args,
    readyWhat,
    ready,
    ...(config.timeoutMs !== undefined && { timeoutMs: config.timeoutMs }),
    ...(config.storeDir !== undefined && { tempDir: config.storeDir }),
  });
  return handle(service, config);
}

/**
 * A NATS container, not yet started: client and monitor ports bound to the fixed host
 * ports of `config`; cluster routes go over `network` by alias (the server's name).
 */
export function natsContainer(config: NatsServerConfig, network?: StartedNetwork) {
  const { readyWhat, ready } = readiness(config);
  const args = natsArgs({
    bind: '0.0.0.0',
    port: 4222,
    monitorPort: 8222,
    name: config.name,
    ...(config.jetstream && { storeDir: '/tmp/nats' }),
    ...(config.cluster && { cluster: config.cluster }),
    // Gossiped cluster URLs would be container IPs that the host cannot reach.
    args: config.cluster ? ['--no_advertise=true', ...config.args] : config.args,
  });
  const build = (tc: Testcontainers) => {
    const container = new tc.GenericContainer(NATS_IMAGE)
      .withCommand(args)
      .withExposedPorts(
        { container: 4222, host: config.port },
        { container: 8222, host: config.monitorPort },
      )
      .withWaitStrategy(tc.Wait.forHttp('/healthz', 8222));
    return network ? container.withNetwork(network).withNetworkAliases(config.name) : container;
  };
  const service = new ContainerService({
    name: config.name,
    build,
    ready,
    readyWhat,
    ...(config.timeoutMs !== undefined && { timeoutMs: config.timeoutMs }),
  });
  return handle(service, config);
}
