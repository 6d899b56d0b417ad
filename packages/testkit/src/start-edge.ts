import { cliEnv, resolveCliBin } from './cli-bin.js';
import { freePort, retryOnAddressInUse } from './free-port.js';
import { ProcessService } from './process-service.js';
import { httpGet, httpJson } from './probes.js';
import { type ServiceHandle } from './service-handle.js';
import { NotOursError } from './wait-ready.js';

/** An edge node process started by {@link startEdge}. */
export interface EdgeHandle extends ServiceHandle {
  /** The node id it registered with, e.g. `n1`. */
  readonly nodeId: string;
  /** HTTP/WebSocket port (kept across restarts). */
  readonly port: number;
  /** WebSocket URL for clients: `ws://127.0.0.1:PORT/ws`. */
  readonly url: string;
  /** HTTP base URL: `http://127.0.0.1:PORT`. */
  readonly httpUrl: string;
  /** `GET httpUrl/stats`, parsed. */
  stats(): Promise<Record<string, unknown>>;
}

/** Options of {@link startEdge}. */
export interface StartEdgeOptions {
  /** NATS URL(s); several are joined with commas. */
  nats: string | string[];
  /** Redis URL. */
  redis: string;
  /** Node id; default `edge-PORT`. */
  nodeId?: string;
  /** Port; default a free one. */
  port?: number;
  /**
   * Extra `roomfabric edge` arguments. Without any `--jwt-*`/`--jwks-*` flag, `--insecure`
   * is added: test edges accept unauthenticated clients unless a test sets up auth.
   */
  args?: string[];
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
}

/**
 * Starts `roomfabric edge` on 127.0.0.1 (the built CLI, run with this Node) and resolves once
 * `GET /readyz` answers 200 naming its node id. Fails fast, quoting its output, if it exits
 * first, and naming the port if another process answers there. It exits 0 on SIGTERM, so
 * `stop()` is a graceful drain and `kill()` a crash.
 */
export async function startEdge(options: StartEdgeOptions): Promise<EdgeHandle> {
  const bin = resolveCliBin();
  const nats = Array.isArray(options.nats) ? options.nats.join(',') : options.nats;
  const start = async () => {
    const port = options.port ?? (await freePort());
    const nodeId = options.nodeId ?? `edge-${port}`;
    const httpUrl = `http://127.0.0.1:${port}`;
    const service = new ProcessService({
      name: nodeId.startsWith('edge') ? nodeId : `edge-${nodeId}`,
      command: process.execPath,
      args: [
        bin,
        'edge',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--nats',
        nats,
        '--redis',
        options.redis,
        '--node-id',
        nodeId,
        ...withAuthDefault(options.args ?? []),
      ],
      env: cliEnv(),
      readyWhat: `GET ${httpUrl}/readyz -> 200 from node ${nodeId}`,
      ready: () => answersAs(nodeId, port, `${httpUrl}/readyz`),
      ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    });
    await service.start();
    return Object.assign(service, {
      nodeId,
      port,
      url: `ws://127.0.0.1:${port}/ws`,
      httpUrl,
      stats: () => httpJson(`${httpUrl}/stats`, 5_000),
    });
  };
  // A port of our choosing may be taken between freePort() and the bind: pick another.
  // A port the caller chose is theirs to fix.
  return options.port === undefined ? retryOnAddressInUse(start) : start();
}

/**
 * Whether `GET url` answers 200 from the edge `nodeId` (its `/healthz` and `/readyz` JSON
 * name the node). An answer from anything else means another process holds the port, so
 * the edge started there cannot be the one answering: {@link NotOursError}.
 */
async function answersAs(nodeId: string, port: number, url: string): Promise<boolean> {
  const { status, body } = await httpGet(url);
  let node: unknown;
  try {
    node = (JSON.parse(body) as { node?: unknown }).node;
  } catch {
    // Not JSON: not a roomfabric edge.
  }
  if (node === nodeId) return status === 200;
  throw new NotOursError(
    typeof node === 'string'
      ? `port ${port} is answered by node "${node}", not ${nodeId}: another roomfabric process holds the port (stop it, or pick another port)`
      : `port ${port} is answered by something else than a roomfabric edge (GET ${url}: HTTP ${status}): another process holds the port (stop it, or pick another port)`,
  );
}

const AUTH_FLAGS = [
  '--insecure',
  '--jwt-secret-file',
  '--jwt-public-key',
  '--jwks-url',
  '--jwks-file',
];

function withAuthDefault(args: string[]): string[] {
  return args.some((a) => AUTH_FLAGS.includes(a.split('=')[0]!)) ? args : ['--insecure', ...args];
}
