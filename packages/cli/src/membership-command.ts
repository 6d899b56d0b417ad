import { redactRedisTarget } from '@roomfabric/membership';
import { hostname } from 'node:os';
import { FabricService, ServiceMetrics } from '@roomfabric/fabric';
import type { Server } from 'node:http';
import { helpRows, intFlag, parseFlags } from './args.js';
import {
  connectBackends,
  connectTimeoutFlags,
  connectTimeoutFromFlags,
  connectTimeoutRows,
  redactUrl,
  untilSignal,
  redisFlag,
  urlList,
} from './backends.js';
import { cliLogger } from './cli-logger.js';
import { closeServer, listenOn, shownHost } from './edge-http.js';
import { createServiceHttpServer } from './service-http.js';
import { presenceFlags, presenceFromFlags, presenceRows } from './presence-flags.js';
import { TimedMembership } from './timed-membership.js';

export const membershipHelp = `Usage: roomfabric membership --nats URL[,URL...] --redis URL [options]

Runs the membership service: raids (rf.svc.raid) and the purge of nodes whose lease
lapsed. Stateless: run several replicas for availability; requests go to one replica
(NATS queue group) and a purge is never done twice. With --port, serves GET /healthz,
/readyz (ready while NATS is connected and Redis answers) and /metrics (Prometheus).
Logs are JSON lines on standard error (RF_LOG_LEVEL: debug, info, warn, error, silent).

Options:
${helpRows([
  ['--nats URLS', 'NATS server URLs, comma-separated (required)'],
  [
    '--redis URL',
    'Redis URL, several (a Redis Cluster), or redis-cluster://h1:p1,h2:p2 (required)',
  ],
  ...connectTimeoutRows,
  ['--lease-check-ms N', 'how often lapsed leases are looked for (default 1000)'],
  ['--purge-batch N', 'sockets removed per atomic purge step (default 500)'],
  ['--port N', 'HTTP port for health and metrics (default: no HTTP; 0 picks one)'],
  ['--host H', 'address the HTTP port binds (default 127.0.0.1)'],
  ['--node-id ID', "this replica's name in logs and metrics (default membership-HOST-PID)"],
  ...presenceRows,
  ['-h, --help', 'show this help'],
])}
`;

export async function runMembership(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, {
    nats: { type: 'string' },
    redis: { type: 'string' },
    ...connectTimeoutFlags,
    'lease-check-ms': { type: 'string' },
    'purge-batch': { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'node-id': { type: 'string' },
    ...presenceFlags,
  });
  if (flags.help) {
    print(membershipHelp);
    return;
  }
  const nats = urlList('nats', flags.nats, ['nats', 'tls']);
  const redis = redisFlag(flags.redis);
  const connectTimeoutMs = connectTimeoutFromFlags(flags);
  const leaseCheckMs = intFlag('lease-check-ms', flags['lease-check-ms'], 1000, 20, 600_000);
  const purgeBatch = intFlag('purge-batch', flags['purge-batch'], 500, 1, 100_000);
  const presence = presenceFromFlags(flags);
  const port = flags.port === undefined ? undefined : intFlag('port', flags.port, 0, 0, 65535);
  const host = (flags.host as string | undefined) ?? '127.0.0.1';
  const node =
    (flags['node-id'] as string | undefined) ?? `membership-${hostname()}-${process.pid}`;
  const logger = cliLogger().child({ component: 'membership', node });
  const metrics = new ServiceMetrics({ labels: { node } });
  const backends = await connectBackends(nats, redis, `roomfabric-${node}`, connectTimeoutMs);
  let closing = false;
  let service: FabricService | undefined;
  let http: Server | undefined;
  try {
    service = new FabricService({
      bus: backends.bus,
      membership: new TimedMembership(backends.membership, metrics),
      logger,
      leaseCheckMs,
      purgeBatch,
      metrics,
      presence,
    });
    if (port !== undefined) {
      http = createServiceHttpServer(service, metrics, node, logger, () => closing);
    }
    await service.start();
    if (http) {
      const bound = await listenOn(http, port!, host);
      print(`roomfabric membership ${node}: health http://${shownHost(host)}:${bound}/readyz`);
    }
  } catch (err) {
    await service?.close();
    if (http) await closeServer(http);
    await backends.close();
    throw err;
  }
  print(
    `roomfabric membership: ready (nats ${nats.map(redactUrl).join(',')}, redis ${redactRedisTarget(redis)})`,
  );
  await untilSignal((signal) => {
    closing = true;
    logger.info({ signal }, 'shutting down');
  });
  await service.close();
  if (http) await closeServer(http);
  await backends.close();
}
