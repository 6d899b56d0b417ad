import { MemoryBus } from '@roomfabric/bus';
import { createEdge, EdgeMetrics, type Edge } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { MemoryChannelStore } from '@roomfabric/channels';
import { FabricService, ServiceMetrics } from '@roomfabric/fabric';
import { helpRows, intFlag, parseFlags } from './args.js';
import { historyFlags, historyFromFlags, historyHelp } from './history-flags.js';
import { presenceFlags, presenceFromFlags, presenceRows } from './presence-flags.js';
import { cliLogger } from './cli-logger.js';
import { installDemo } from './demo-app.js';
import {
  closeServer,
  createEdgeHttpServer,
  listenOn,
  loadDemoAssets,
  shownHost,
} from './edge-http.js';
import { TimedMembership } from './timed-membership.js';

export const devHelp = `Usage: roomfabric dev [--port N] [--host H]

Starts an embedded single-process fabric (in-memory bus and membership, no NATS or
Redis): the WebSocket endpoint at /ws, GET /healthz, /readyz, /stats, /metrics, and a
browser demo at / (chat rooms, live cursors, the member list, raids).
Clients may join rooms and broadcast to their rooms (policy "open").

Options:
${helpRows([
  ['--port N', 'port to listen on (default 3000, or $PORT; 0 picks a free one)'],
  ['--host H', 'address to bind (default 127.0.0.1; 0.0.0.0 for every interface)'],
  ...presenceRows,
  ['-h, --help', 'show this help'],
])}

${historyHelp}
`;

export interface DevServer {
  edge: Edge;
  url: string;
  close(): Promise<void>;
}

/** Starts `roomfabric dev` in this process. */
export async function startDev(
  argv: string[],
  print: (line: string) => void,
): Promise<DevServer | undefined> {
  const flags = parseFlags(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    ...historyFlags,
    ...presenceFlags,
  });
  const history = historyFromFlags(flags);
  const presence = presenceFromFlags(flags);
  if (flags.help) {
    print(devHelp);
    return undefined;
  }
  const port = intFlag('port', flags.port ?? process.env.PORT, 3000, 0, 65535);
  const host = (flags.host as string | undefined) ?? '127.0.0.1';
  const logger = cliLogger();
  const demo = await loadDemoAssets('/ws', 'embedded');
  // Embedded mode, built here rather than by the edge so that the index calls are timed
  // and the in-process membership service (raids) reports to the same /metrics.
  const metrics = new EdgeMetrics();
  const serviceMetrics = new ServiceMetrics({ registry: metrics.registry, processMetrics: false });
  const bus = new MemoryBus();
  const membership = new TimedMembership(new MemoryMembership(), metrics);
  const service = new FabricService({
    bus,
    membership,
    logger: logger.child({ component: 'membership', node: 'dev' }),
    metrics: serviceMetrics,
    presence,
  });
  const server = createEdgeHttpServer(() => edge, demo);
  const edge = createEdge({
    server,
    bus,
    membership,
    history,
    presence,
    // The edge makes one only when it owns the bus and index; the demo's are timed.
    channels: new MemoryChannelStore(),
    policy: 'open',
    logger,
    nodeId: 'dev',
  });
  metrics.bind(edge);
  installDemo(edge);
  const release = async () => {
    await service.close();
    await bus.close();
    await membership.close();
  };
  let bound: number;
  try {
    await service.start();
    await edge.whenStarted();
    bound = await listenOn(server, port, host);
  } catch (err) {
    await edge.close();
    await release();
    throw err;
  }
  const shown = shownHost(host);
  const url = `http://${shown}:${bound}`;
  print(`roomfabric dev: embedded fabric (in-memory bus and membership), node ${edge.nodeId}`);
  print(`  demo       ${url}/`);
  print(`  websocket  ws://${shown}:${bound}${edge.path}`);
  print(`  health     ${url}/healthz`);
  print(`  metrics    ${url}/metrics`);
  print('Press Ctrl-C to stop.');
  return {
    edge,
    url,
    async close() {
      await edge.close();
      await closeServer(server);
      await release();
    },
  };
}
