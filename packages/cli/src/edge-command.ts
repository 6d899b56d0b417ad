import { redactRedisTarget } from '@roomfabric/membership';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import {
  createEdge,
  EdgeMetrics,
  JwtVerifier,
  trustedProxyList,
  type Edge,
  type JwtAuthOptions,
} from '@roomfabric/edge';
import { helpRows, intFlag, parseFlags, UsageError } from './args.js';
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
import { installDemo } from './demo-app.js';
import {
  closeServer,
  createEdgeHttpServer,
  listenOn,
  loadDemoAssets,
  shownHost,
} from './edge-http.js';
import {
  channelFlags,
  channelHelp,
  channelSettingsFromFlags,
  openChannels,
} from './channel-flags.js';
import {
  historyFlags,
  historyHelp,
  historySettingsFromFlags,
  natsHistory,
} from './history-flags.js';
import { presenceFlags, presenceFromFlags, presenceRows } from './presence-flags.js';
import { TimedMembership } from './timed-membership.js';

export const edgeHelp = `Usage: roomfabric edge --nats URL[,URL...] --redis URL [options]

Runs one clustered edge node: WebSockets on --port, broadcasts over NATS, the global
room index in Redis. Serves GET /healthz, /readyz (ready while NATS and Redis answer),
/stats and /metrics (Prometheus) next to the WebSocket endpoint. Logs are JSON lines on
standard error (RF_LOG_LEVEL: debug, info, warn, error, silent). On SIGTERM or SIGINT it
reports not ready for --drain-ms, then closes every client with 1001 (reconnect elsewhere).

Options:
${helpRows([
  ['--nats URLS', 'NATS server URLs, comma-separated (required)'],
  [
    '--redis URL',
    'Redis URL, several (a Redis Cluster), or redis-cluster://h1:p1,h2:p2 (required)',
  ],
  ...connectTimeoutRows,
  ['--port N', 'port (default 3000, or $PORT)'],
  ['--host H', 'address to bind (default 127.0.0.1)'],
  ['--node-id ID', "this node's id, unique in the cluster (default: node-<random>)"],
  ['--path P', 'WebSocket path (default /ws)'],
  [
    '--policy open|closed',
    "may clients join rooms and broadcast on their own (default closed; with token auth and no --policy, each token's grants decide)",
  ],
  ['--demo', 'serve the browser demo at / (chat, cursors, members, raids)'],
  ['--drain-ms N', 'on shutdown, answer /readyz 503 this long before closing (default 0)'],
  ...presenceRows,
  ['--heartbeat-ms N', 'ping interval (default 25000)'],
  ['--lease-interval-ms N', 'lease renewal interval (default 1000)'],
  ['--lease-ttl-ms N', 'lease lifetime; the node is purged after this long silent (default 5000)'],
  ['--max-frames-per-second N', 'per-client frame allowance (default 200)'],
  ['--max-bytes-per-second N', 'per-client byte allowance (default 1048576)'],
  [
    '--max-buffered-bytes N',
    'outbound bytes a client may lag behind before it is closed with 3008 (default 8388608)',
  ],
  [
    '--max-frames-per-second-per-user N',
    "frames all of a user's sockets may send per second; over it they are read slower (default 1000; 0: none)",
  ],
  [
    '--max-frames-per-second-per-node N',
    'frames all clients may send per second; over it the senders are read slower (default 50000; 0: none)',
  ],
  ['--max-connections N', 'connections this node holds at most; then HTTP 503 (default 100000)'],
  [
    '--max-connections-per-address N',
    'connections from one client address; then HTTP 429 (default 1000; 0: none)',
  ],
  [
    '--max-connections-per-user N',
    'connections of one user on this node; then RF_CONNECTION_LIMIT (default 100; 0: none)',
  ],
  [
    '--trusted-proxies LIST',
    'proxies whose X-Forwarded-For names the client: addresses, CIDR blocks, loopback, private (default loopback,private; none: trust no one)',
  ],
  ['--stats-public', 'let anyone who reaches the port see room names on /stats'],
  ['--stats-token-file F', 'show room names on /stats to requests with this bearer token'],
  ['-h, --help', 'show this help'],
])}

Auth (one of them is required, or --insecure):
${helpRows(
  [
    [
      '--jwt-secret-file F',
      'HS256/384/512 secret (at least 32 bytes) read from a file (or set RF_JWT_SECRET)',
    ],
    ['--jwt-public-key F', 'PEM public key file (RS256, ES256, PS256, EdDSA)'],
    ['--jwks-url URL', 'JWKS endpoint'],
    ['--jwks-file F', 'JWKS JSON file'],
    ['--jwt-issuer S', 'required "iss"'],
    ['--jwt-audience S', 'required "aud"'],
    ['--require-exp', 'refuse tokens without "exp" (by default they never expire)'],
    ['--insecure', 'accept clients without tokens (trusted networks and tests only)'],
  ],
  29,
)}
  Clients send { token } in connect(url, { auth }); the token's "sub" is the user and its
  "rf" claim ({ join: [...], publish: [...] } room patterns, * = any) what it may do.

${historyHelp}

${channelHelp}
`;

const edgeOptions = {
  nats: { type: 'string' },
  redis: { type: 'string' },
  ...connectTimeoutFlags,
  port: { type: 'string' },
  host: { type: 'string' },
  'node-id': { type: 'string' },
  path: { type: 'string' },
  policy: { type: 'string' },
  'heartbeat-ms': { type: 'string' },
  'lease-interval-ms': { type: 'string' },
  'lease-ttl-ms': { type: 'string' },
  'max-frames-per-second': { type: 'string' },
  'max-bytes-per-second': { type: 'string' },
  'max-buffered-bytes': { type: 'string' },
  'max-frames-per-second-per-user': { type: 'string' },
  'max-frames-per-second-per-node': { type: 'string' },
  'max-connections': { type: 'string' },
  'max-connections-per-address': { type: 'string' },
  'max-connections-per-user': { type: 'string' },
  'trusted-proxies': { type: 'string' },
  'stats-public': { type: 'boolean' },
  'stats-token-file': { type: 'string' },
  'require-exp': { type: 'boolean' },
  'jwt-secret-file': { type: 'string' },
  'jwt-public-key': { type: 'string' },
  'jwks-url': { type: 'string' },
  'jwks-file': { type: 'string' },
  'jwt-issuer': { type: 'string' },
  'jwt-audience': { type: 'string' },
  insecure: { type: 'boolean' },
  demo: { type: 'boolean' },
  'drain-ms': { type: 'string' },
  ...historyFlags,
  ...channelFlags,
  ...presenceFlags,
} as const;

/** Every flag of `roomfabric edge`, checked before anything connects. */
function edgeSettings(flags: Record<string, string | boolean | undefined>) {
  const nats = urlList('nats', flags.nats, ['nats', 'tls']);
  const redis = redisFlag(flags.redis);
  const policy = (flags.policy as string | undefined) ?? 'closed';
  if (policy !== 'open' && policy !== 'closed') {
    throw new UsageError(`--policy must be open or closed, got ${policy}`);
  }
  const auth = authOptions(flags);
  return {
    nats,
    redis: redis,
    connectTimeoutMs: connectTimeoutFromFlags(flags),
    port: intFlag('port', flags.port ?? process.env.PORT, 3000, 0, 65535),
    host: (flags.host as string | undefined) ?? '127.0.0.1',
    policy: policy as 'open' | 'closed',
    nodeId: (flags['node-id'] as string | undefined) ?? `node-${randomBytes(4).toString('hex')}`,
    drainMs: intFlag('drain-ms', flags['drain-ms'], 0, 0, 600_000),
    auth,
    history: historySettingsFromFlags(flags),
    channels: channelSettingsFromFlags(flags),
    presence: presenceFromFlags(flags),
    wsPath: (flags.path as string | undefined) ?? '/ws',
    heartbeatMs: intFlag('heartbeat-ms', flags['heartbeat-ms'], 25_000, 100, 3_600_000),
    leaseIntervalMs: intFlag('lease-interval-ms', flags['lease-interval-ms'], 1000, 50, 600_000),
    leaseTtlMs: intFlag('lease-ttl-ms', flags['lease-ttl-ms'], 5000, 100, 3_600_000),
    limits: {
      maxFramesPerSecond: intFlag(
        'max-frames-per-second',
        flags['max-frames-per-second'],
        200,
        1,
        10_000_000,
      ),
      maxBytesPerSecond: intFlag(
        'max-bytes-per-second',
        flags['max-bytes-per-second'],
        1024 * 1024,
        1024,
        2 ** 40,
      ),
      maxBufferedBytes: intFlag(
        'max-buffered-bytes',
        flags['max-buffered-bytes'],
        8 * 1024 * 1024,
        65_536,
        2 ** 40,
      ),
      ...capFlags(flags),
    },
    trustedProxies: trustedProxiesFlag(flags['trusted-proxies']),
    stats: statsFlags(flags),
  };
}

/** The connection caps and shared frame budgets (`EdgeLimits`); see `roomfabric edge --help`. */
function capFlags(flags: Record<string, string | boolean | undefined>) {
  const cap = (name: string, fallback: number, min = 0) =>
    intFlag(name, flags[name], fallback, min, 10_000_000);
  return {
    maxFramesPerSecondPerUser: cap('max-frames-per-second-per-user', 1000),
    maxFramesPerSecondPerNode: cap('max-frames-per-second-per-node', 50_000),
    maxConnections: cap('max-connections', 100_000, 1),
    maxConnectionsPerAddress: cap('max-connections-per-address', 1000),
    maxConnectionsPerUser: cap('max-connections-per-user', 100),
  };
}

/** `--trusted-proxies a,b,c`, or `none`; checked by the edge's own parser. */
function trustedProxiesFlag(value: string | boolean | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const list = String(value)
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const proxies = list.length === 1 && list[0] === 'none' ? [] : list;
  try {
    trustedProxyList(proxies);
  } catch (err) {
    throw new UsageError(`--trusted-proxies: ${(err as Error).message}`);
  }
  return proxies;
}

/** Who sees room names on /stats: `--stats-public`, or the token in `--stats-token-file`. */
function statsFlags(
  flags: Record<string, string | boolean | undefined>,
): { public?: boolean; token?: string } | undefined {
  const file = flags['stats-token-file'] as string | undefined;
  if (flags['stats-public'] && file) {
    throw new UsageError('give --stats-public or --stats-token-file, not both');
  }
  if (flags['stats-public']) return { public: true };
  if (!file) return undefined;
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`--stats-token-file: cannot read ${file}: ${(err as Error).message}`);
  }
  if (token.length < 16) {
    throw new UsageError(`--stats-token-file ${file}: the token must be at least 16 characters`);
  }
  return { token };
}

/** `roomfabric edge`: resolves when the node has shut down after a signal. */
export async function runEdge(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, edgeOptions);
  if (flags.help) {
    print(edgeHelp);
    return;
  }
  const settings = edgeSettings(flags);
  const { nats, redis, auth, policy, nodeId, drainMs, host, port, wsPath } = settings;
  const logger = cliLogger();
  const metrics = new EdgeMetrics();
  const demo = flags.demo ? await loadDemoAssets(wsPath, `cluster node ${nodeId}`) : undefined;
  let draining = false;
  let edge: Edge | undefined;
  const http = createEdgeHttpServer(
    () => edge!,
    demo,
    () => draining,
  );
  const backends = await connectBackends(
    nats,
    redis,
    `roomfabric-edge-${nodeId}`,
    settings.connectTimeoutMs,
  );
  try {
    const channels = settings.channels && (await openChannels(settings.channels, backends.bus));
    edge = createEdge({
      nodeId,
      path: wsPath,
      server: http,
      bus: backends.bus,
      membership: new TimedMembership(backends.membership, metrics),
      history: settings.history && natsHistory(settings.history, backends.bus),
      channels,
      presence: settings.presence,
      // With token auth the grants decide unless --policy narrows it (the edge's default).
      policy: auth && flags.policy === undefined ? undefined : policy,
      logger,
      heartbeatMs: settings.heartbeatMs,
      leaseIntervalMs: settings.leaseIntervalMs,
      leaseTtlMs: settings.leaseTtlMs,
      auth,
      limits: settings.limits,
      trustedProxies: settings.trustedProxies,
      stats: settings.stats,
    });
    metrics.bind(edge);
    if (demo) installDemo(edge);
    await edge.whenStarted();
    const address = { port: await listenOn(http, port, host) };
    const shown = shownHost(host);
    print(`roomfabric edge ${edge.nodeId}: ws://${shown}:${address.port}${edge.path}`);
    print(
      `  health  http://${shown}:${address.port}/healthz  ready http://${shown}:${address.port}/readyz`,
    );
    print(`  metrics http://${shown}:${address.port}/metrics`);
    if (demo) print(`  demo    http://${shown}:${address.port}/`);
    print(`  nats    ${nats.map(redactUrl).join(',')}  redis ${redactRedisTarget(redis)}`);
    print(
      `  auth    ${auth ? 'JWT' : 'none (--insecure)'}  policy ${auth && flags.policy === undefined ? 'from tokens' : policy}`,
    );
  } catch (err) {
    await edge?.close();
    await closeServer(http);
    await backends.close();
    throw err;
  }
  const running = edge;
  await untilSignal((signal) => {
    draining = true;
    logger.info(
      { signal, node: running.nodeId, drainMs },
      'shutting down: clients are told to reconnect elsewhere',
    );
  });
  if (drainMs > 0) await new Promise((resolve) => setTimeout(resolve, drainMs));
  await running.close();
  await closeServer(http);
  await backends.close();
}

/**
 * The auth flags as JwtAuthOptions, checked as the edge will use them (a secret of at
 * least 32 bytes, a PEM that parses, a JWKS file that reads), so that a bad key fails
 * before anything connects. Refuses to go on without any unless --insecure.
 */
function authOptions(
  flags: Record<string, string | boolean | undefined>,
): JwtAuthOptions | undefined {
  const str = (name: string) => flags[name] as string | undefined;
  const read = (name: string) => {
    try {
      return readFileSync(str(name)!, 'utf8');
    } catch (err) {
      throw new UsageError(`--${name}: cannot read ${str(name)}: ${(err as Error).message}`);
    }
  };
  const sources: Array<{ from: string; options: JwtAuthOptions }> = [];
  if (str('jwt-secret-file')) {
    const from = `--jwt-secret-file ${str('jwt-secret-file')}`;
    sources.push({ from, options: { secret: read('jwt-secret-file').trim() } });
  } else if (process.env.RF_JWT_SECRET) {
    sources.push({ from: 'RF_JWT_SECRET', options: { secret: process.env.RF_JWT_SECRET } });
  }
  if (str('jwt-public-key')) {
    const from = `--jwt-public-key ${str('jwt-public-key')}`;
    sources.push({ from, options: { publicKey: read('jwt-public-key') } });
  }
  if (str('jwks-url')) sources.push({ from: '--jwks-url', options: { jwksUrl: str('jwks-url') } });
  if (str('jwks-file')) {
    const from = `--jwks-file ${str('jwks-file')}`;
    sources.push({ from, options: { jwksFile: str('jwks-file') } });
  }
  if (sources.length > 1)
    throw new UsageError(
      'give only one of --jwt-secret-file, --jwt-public-key, --jwks-url, --jwks-file',
    );
  const [source] = sources;
  if (!source) {
    if (flags.insecure) return undefined;
    throw new UsageError(
      'refusing to start without auth: pass --jwt-secret-file, --jwt-public-key, --jwks-url or --jwks-file, or --insecure on a trusted network',
    );
  }
  if (flags.insecure) throw new UsageError('--insecure cannot be combined with token auth');
  const options = {
    ...source.options,
    issuer: str('jwt-issuer'),
    audience: str('jwt-audience'),
    requireExp: flags['require-exp'] === true,
  };
  checkJwtOptions(source.from, options);
  return options;
}

/** Builds the verifier the edge will build, to fail now on a key it would refuse. */
export function checkJwtOptions(from: string, options: JwtAuthOptions): void {
  if (typeof options.secret === 'string') {
    const bytes = Buffer.byteLength(options.secret);
    if (bytes < 32) {
      throw new UsageError(
        `${from}: a JWT secret must be at least 32 bytes (this one has ${bytes}); make one with: openssl rand -base64 32`,
      );
    }
  }
  try {
    new JwtVerifier(options);
  } catch (err) {
    throw new UsageError(`${from}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
