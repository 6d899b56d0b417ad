import {
  freePort,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  type ServiceHandle,
} from '@roomfabric/testkit';
import { intFlag, parseFlags } from './args.js';
import { untilSignal, urlList } from './backends.js';
import { historyFlags, historyFromFlags } from './history-flags.js';

export const clusterHelp = `Usage: roomfabric cluster [--edges N] [--port N] [--nats URLS] [--redis URL]

Starts a local cluster as separate processes: nats-server and redis-server (unless URLs
are given), the membership service, and N edge nodes on consecutive ports. Clients may
join rooms and broadcast on their own (policy open, no auth). Every edge serves the
browser demo at / (open two edges in two tabs), /readyz and /metrics; the membership
service serves /readyz and /metrics on a free port. Prints every URL; Ctrl-C stops
everything it started.

Options:
  --edges N     edge nodes (default 3)
  --port N      port of the first edge (default 3000; the others follow)
  --nats URLS   use these NATS servers instead of starting one
  --redis URL   use this Redis instead of starting one
  --history PATTERNS, --history-max-messages N, --history-max-age-ms N
                rooms that keep history, passed to every edge (see roomfabric edge --help;
                a started nats-server runs JetStream)
  -h, --help    show this help
`;

export async function runCluster(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, {
    edges: { type: 'string' },
    port: { type: 'string' },
    nats: { type: 'string' },
    redis: { type: 'string' },
    ...historyFlags,
  });
  if (flags.help) {
    print(clusterHelp);
    return;
  }
  const edges = intFlag('edges', flags.edges, 3, 1, 32);
  historyFromFlags(flags); // checks them before anything starts
  const historyArgs = Object.keys(historyFlags).flatMap((name) =>
    flags[name] === undefined ? [] : [`--${name}`, String(flags[name])],
  );
  const basePort = intFlag('port', flags.port, 3000, 1, 65535 - edges);
  const started: Array<{ [Symbol.asyncDispose](): Promise<void> }> = [];
  const stopAll = async () => {
    for (const handle of started.reverse())
      await handle[Symbol.asyncDispose]().catch(() => undefined);
  };
  try {
    let nats: string[];
    if (flags.nats !== undefined) nats = urlList('nats', flags.nats, ['nats', 'tls']);
    else {
      const server = await startNats({ jetstream: true });
      started.push(server);
      nats = [server.url];
      print(`nats        ${server.url} (started, pid ${server.pid ?? '?'})`);
    }
    let redis: string;
    if (flags.redis !== undefined) redis = urlList('redis', flags.redis, ['redis', 'rediss'])[0]!;
    else {
      const server = await startRedis();
      started.push(server);
      redis = server.url;
      print(`redis       ${server.url} (started, pid ${server.pid ?? '?'})`);
    }
    const servicePort = await freePort();
    const membership: ServiceHandle = await startMembership({
      nats,
      redis,
      args: ['--port', String(servicePort), '--node-id', 'membership-1'],
    });
    started.push(membership);
    print(
      `membership  running (pid ${membership.pid ?? '?'})  metrics http://127.0.0.1:${servicePort}/metrics`,
    );
    for (let i = 0; i < edges; i++) {
      const edge = await startEdge({
        nats,
        redis,
        nodeId: `n${i + 1}`,
        port: basePort + i,
        args: ['--policy', 'open', '--insecure', '--demo', ...historyArgs],
      });
      started.push(edge);
      print(
        `edge ${edge.nodeId.padEnd(6)} ${edge.url}  demo ${edge.httpUrl}/  metrics ${edge.httpUrl}/metrics`,
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  print('Cluster ready. Press Ctrl-C to stop every process.');
  await untilSignal((signal) => print(`\n${signal}: stopping the cluster`));
  await stopAll();
}
