import { createJsonLogger, logLevelFromEnv, MembershipService } from '@roomfabric/server';
import { intFlag, parseFlags } from './args.js';
import { connectBackends, untilSignal, urlList } from './backends.js';

export const membershipHelp = `Usage: roomfabric membership --nats URL[,URL...] --redis URL [options]

Runs the membership service: raids (rf.svc.raid) and the purge of nodes whose lease
lapsed. Stateless: run several replicas for availability; requests go to one replica
(NATS queue group) and a purge is never done twice.

Options:
  --nats URLS          NATS server URLs, comma-separated (required)
  --redis URL          Redis URL (required)
  --lease-check-ms N   how often lapsed leases are looked for (default 1000)
  --purge-batch N      sockets removed per atomic purge step (default 500)
  -h, --help           show this help
`;

export async function runMembership(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, {
    nats: { type: 'string' },
    redis: { type: 'string' },
    'lease-check-ms': { type: 'string' },
    'purge-batch': { type: 'string' },
  });
  if (flags.help) {
    print(membershipHelp);
    return;
  }
  const nats = urlList('nats', flags.nats, ['nats', 'tls']);
  const [redis] = urlList('redis', flags.redis, ['redis', 'rediss']);
  const logger = createJsonLogger({ level: logLevelFromEnv('info') }).child({
    component: 'membership',
  });
  const backends = await connectBackends(nats, redis!, 'roomfabric-membership');
  const service = new MembershipService({
    bus: backends.bus,
    membership: backends.membership,
    logger,
    leaseCheckMs: intFlag('lease-check-ms', flags['lease-check-ms'], 1000, 20, 600_000),
    purgeBatch: intFlag('purge-batch', flags['purge-batch'], 500, 1, 100_000),
  });
  try {
    await service.start();
  } catch (err) {
    await backends.close();
    throw err;
  }
  print(`roomfabric membership: ready (nats ${nats.join(',')}, redis ${redis})`);
  await untilSignal((signal) => logger.info({ signal }, 'shutting down'));
  await service.close();
  await backends.close();
}
