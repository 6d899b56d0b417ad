import { createEdge, createJsonLogger, logLevelFromEnv } from '@roomfabric/edge';
import { intFlag, parseFlags, UsageError } from './args.js';
import { connectBackends, untilSignal, urlList } from './backends.js';

export const edgeHelp = `Usage: roomfabric edge --nats URL[,URL...] --redis URL [options]

Runs one clustered edge node: WebSockets on --port, broadcasts over NATS, the global
room index in Redis. Serves GET /healthz, /readyz (ready while NATS and Redis answer)
and /stats next to the WebSocket endpoint.

Options:
  --nats URLS            NATS server URLs, comma-separated (required)
  --redis URL            Redis URL (required)
  --port N               port (default 3000, or $PORT)
  --host H               address to bind (default 127.0.0.1)
  --node-id ID           this node's id, unique in the cluster (default: node-<random>)
  --path P               WebSocket path (default /ws)
  --policy open|closed   may clients join rooms and broadcast on their own (default closed)
  --heartbeat-ms N       ping interval (default 25000)
  --lease-interval-ms N  lease renewal interval (default 1000)
  --lease-ttl-ms N       lease lifetime; the node is purged after this long silent (default 5000)
  -h, --help             show this help
`;

/** `roomfabric edge`: resolves when the node has shut down after a signal. */
export async function runEdge(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, {
    nats: { type: 'string' },
    redis: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'node-id': { type: 'string' },
    path: { type: 'string' },
    policy: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'lease-interval-ms': { type: 'string' },
    'lease-ttl-ms': { type: 'string' },
  });
  if (flags.help) {
    print(edgeHelp);
    return;
  }
  const nats = urlList('nats', flags.nats, ['nats', 'tls']);
  const [redis] = urlList('redis', flags.redis, ['redis', 'rediss']);
  const port = intFlag('port', flags.port ?? process.env.PORT, 3000, 0, 65535);
  const host = (flags.host as string | undefined) ?? '127.0.0.1';
  const policy = (flags.policy as string | undefined) ?? 'closed';
  if (policy !== 'open' && policy !== 'closed')
    throw new UsageError('--policy must be open or closed');
  const nodeId = flags['node-id'] as string | undefined;
  const logger = createJsonLogger({ level: logLevelFromEnv('info') });
  const backends = await connectBackends(nats, redis!, `roomfabric-edge-${nodeId ?? 'node'}`);
  const edge = createEdge({
    nodeId,
    path: flags.path as string | undefined,
    bus: backends.bus,
    membership: backends.membership,
    policy,
    logger,
    heartbeatMs: intFlag('heartbeat-ms', flags['heartbeat-ms'], 25_000, 100, 3_600_000),
    leaseIntervalMs: intFlag('lease-interval-ms', flags['lease-interval-ms'], 1000, 50, 600_000),
    leaseTtlMs: intFlag('lease-ttl-ms', flags['lease-ttl-ms'], 5000, 100, 3_600_000),
  });
  try {
    const address = await edge.listen(port, host);
    const shown = host.includes(':') ? `[${host}]` : host;
    print(`roomfabric edge ${edge.nodeId}: ws://${shown}:${address.port}${edge.path}`);
    print(
      `  health  http://${shown}:${address.port}/healthz  ready http://${shown}:${address.port}/readyz`,
    );
    print(`  nats    ${nats.join(',')}  redis ${redis}`);
  } catch (err) {
    await edge.close();
    await backends.close();
    throw err;
  }
  await untilSignal((signal) =>
    logger.info({ signal }, 'shutting down: clients are told to reconnect elsewhere'),
  );
  await edge.close();
  await backends.close();
}
