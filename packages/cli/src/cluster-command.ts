import { redactRedisTarget } from '@roomfabric/membership';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { HistoryPolicy } from '@roomfabric/bus';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import {
  freePort,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  type ServiceHandle,
} from '@roomfabric/testkit';
import { helpRows, intFlag, parseFlags, UsageError } from './args.js';
import { redactUrl, redisFlag, untilSignal, urlList } from './backends.js';
import { channelFlags, channelSettingsFromFlags } from './channel-flags.js';
import { checkJwtOptions } from './edge-command.js';
import { historyFlags, historySettingsFromFlags } from './history-flags.js';
import { presenceFlags, presenceFromFlags } from './presence-flags.js';

export const clusterHelp = `Usage: roomfabric cluster [--edges N] [--port N] [options]

Starts a local cluster as separate processes: nats-server (with JetStream) and
redis-server (unless URLs are given), the membership service, and N edge nodes on
consecutive ports. Without auth, clients may join rooms and broadcast on their own
(policy open) and every edge serves the browser demo at / (open two edges in two tabs).
Every edge serves /readyz and /metrics; the membership service serves /readyz and
/metrics on a free port. Prints every URL and the createServer(...) line for the server
API; Ctrl-C stops everything it started.

Options:
${helpRows([
  ['--edges N', 'edge nodes (default 3)'],
  ['--port N', 'port of the first edge (default 3000; the others follow)'],
  ['--nats-port N', 'start nats-server on this port (default: a free one)'],
  ['--redis-port N', 'start redis-server on this port (default: a free one)'],
  ['--nats URLS', 'use these NATS servers instead of starting one'],
  ['--redis URL', 'use this Redis instead of starting one'],
  [
    '--jwt-secret-file F',
    "every edge requires JWTs signed with this HS256 secret (at least 32 bytes; tokens' grants decide, no demo); prints a dev token",
  ],
  ['--presence PATTERNS', 'presence rooms, for every edge and the membership service'],
  [
    '--history PATTERNS',
    'rooms that keep history, for every edge (as are --history-max-messages, --history-max-age-ms and --history-replicas)',
  ],
  [
    '--channels',
    "every edge auto-joins users' channels (as are --channels-bucket, --channels-replicas and --max-channels-per-user)",
  ],
  ['-h, --help', 'show this help'],
])}

The presence, history and channel flags mean what they mean for roomfabric edge (see
roomfabric edge --help); a started nats-server runs JetStream, which history and channels
need.
`;

const clusterOptions = {
  edges: { type: 'string' },
  port: { type: 'string' },
  nats: { type: 'string' },
  redis: { type: 'string' },
  'nats-port': { type: 'string' },
  'redis-port': { type: 'string' },
  'jwt-secret-file': { type: 'string' },
  ...presenceFlags,
  ...historyFlags,
  ...channelFlags,
} as const;

/** How long the printed dev token is valid. */
const DEV_TOKEN_TTL_S = 24 * 3600;

export async function runCluster(argv: string[], print: (line: string) => void): Promise<void> {
  const flags = parseFlags(argv, clusterOptions);
  if (flags.help) {
    print(clusterHelp);
    return;
  }
  // Every flag is checked, and every fixed port found free, before anything starts.
  const edges = intFlag('edges', flags.edges, 3, 1, 32);
  const basePort = intFlag('port', flags.port, 3000, 1, 65535 - edges + 1);
  const natsUrls =
    flags.nats === undefined ? undefined : urlList('nats', flags.nats, ['nats', 'tls']);
  const redisUrl = flags.redis === undefined ? undefined : redisFlag(flags.redis);
  const natsPort = fixedPort(flags, 'nats-port', 'nats');
  const redisPort = fixedPort(flags, 'redis-port', 'redis');
  const secret = secretFromFlags(flags);
  const history = historySettingsFromFlags(flags);
  channelSettingsFromFlags(flags);
  presenceFromFlags(flags);
  const passed = (names: readonly string[]) =>
    names.flatMap((name) => {
      const value = flags[name];
      if (value === undefined || value === false) return [];
      return value === true ? [`--${name}`] : [`--${name}`, value];
    });
  const presenceArgs = passed(Object.keys(presenceFlags));
  const edgeArgs = [
    ...(secret
      ? ['--jwt-secret-file', flags['jwt-secret-file'] as string]
      : ['--policy', 'open', '--insecure', '--demo']),
    ...presenceArgs,
    ...passed(Object.keys(historyFlags)),
    ...passed(Object.keys(channelFlags)),
  ];
  const ports = [
    ...Array.from({ length: edges }, (_, i) => ({ port: basePort + i, what: `edge n${i + 1}` })),
    ...(natsPort === undefined ? [] : [{ port: natsPort, what: `--nats-port ${natsPort}` }]),
    ...(redisPort === undefined ? [] : [{ port: redisPort, what: `--redis-port ${redisPort}` }]),
  ];
  await checkPortsFree(ports);

  const started: ServiceHandle[] = [];
  const stopAll = async () => {
    for (const handle of started.reverse())
      await handle[Symbol.asyncDispose]().catch(() => undefined);
  };
  let nats: string[];
  let redis: string;
  try {
    if (natsUrls) nats = natsUrls;
    else {
      const server = await starting('nats-server', () =>
        startNats({ jetstream: true, ...(natsPort !== undefined && { port: natsPort }) }),
      );
      started.push(server);
      nats = [server.url];
      print(`nats        ${server.url} (started, pid ${server.pid ?? '?'})`);
    }
    if (redisUrl) redis = redisUrl;
    else {
      const server = await starting('redis-server', () =>
        startRedis(redisPort === undefined ? {} : { port: redisPort }),
      );
      started.push(server);
      redis = server.url;
      print(`redis       ${server.url} (started, pid ${server.pid ?? '?'})`);
    }
    const servicePort = await freePort();
    const membership = await starting('the membership service', () =>
      startMembership({
        nats,
        redis,
        args: ['--port', String(servicePort), '--node-id', 'membership-1', ...presenceArgs],
      }),
    );
    started.push(membership);
    print(
      `membership  running (pid ${membership.pid ?? '?'})  metrics http://127.0.0.1:${servicePort}/metrics`,
    );
    for (let i = 0; i < edges; i++) {
      const nodeId = `n${i + 1}`;
      const edge = await starting(`edge ${nodeId}`, () =>
        startEdge({ nats, redis, nodeId, port: basePort + i, args: edgeArgs }),
      );
      started.push(edge);
      const demo = secret ? '' : `  demo ${edge.httpUrl}/`;
      print(
        `edge ${nodeId.padEnd(6)} ${edge.url}${demo}  metrics ${edge.httpUrl}/metrics  (pid ${edge.pid ?? '?'})`,
      );
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  if (secret) {
    print(
      `auth        JWT: every edge takes HS256 tokens signed with the secret in ${String(flags['jwt-secret-file'])}; their "rf" grants decide (no demo page: it sends no token)`,
    );
    print(
      `dev token   ${devToken(secret, 'dev', DEV_TOKEN_TTL_S)}  (user "dev", may join and publish in every room, valid 24 h; connect(url, { auth: { token } }))`,
    );
  } else {
    print('auth        none: clients connect without tokens (--jwt-secret-file F for JWT auth)');
  }
  print(`server API  ${serverLine(nats, redis, history?.policies)}`);
  print('Cluster ready. Press Ctrl-C to stop every process.');
  await untilSignal((signal) => print(`\n${signal}: stopping the cluster`));
  await stopAll();
  print('Cluster stopped: every process it started has exited.');
}

/** `--nats-port` / `--redis-port`: a port to start the server on; not with its URL flag. */
function fixedPort(
  flags: Record<string, string | boolean | undefined>,
  name: string,
  urlFlag: string,
): number | undefined {
  if (flags[name] === undefined) return undefined;
  if (flags[urlFlag] !== undefined) {
    throw new UsageError(
      `--${name} cannot be combined with --${urlFlag} (that one uses a running server)`,
    );
  }
  return intFlag(name, flags[name], 0, 1, 65535);
}

/** The secret of `--jwt-secret-file`, read and checked as every edge will. */
function secretFromFlags(flags: Record<string, string | boolean | undefined>): string | undefined {
  const file = flags['jwt-secret-file'];
  if (typeof file !== 'string') return undefined;
  let secret: string;
  try {
    secret = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`--jwt-secret-file: cannot read ${file}: ${(err as Error).message}`);
  }
  checkJwtOptions(`--jwt-secret-file ${file}`, { secret });
  return secret;
}

/** Fails with `RF_LISTEN_FAILED` naming the first port that something already listens on. */
async function checkPortsFree(ports: Array<{ port: number; what: string }>): Promise<void> {
  const seen = new Map<number, string>();
  for (const { port, what } of ports) {
    const other = seen.get(port);
    if (other !== undefined) {
      throw new UsageError(`${what} and ${other} both want port ${port}`);
    }
    seen.set(port, what);
  }
  for (const { port, what } of ports) {
    const code = await bindError(port);
    if (code === undefined) continue;
    const why =
      code === 'EADDRINUSE'
        ? `port ${port} is taken (something listens on 127.0.0.1:${port})`
        : `port ${port} cannot be bound (${code})`;
    const fix = what.startsWith('edge')
      ? 'stop it, or pass --port with another first port'
      : `stop it, or pass another ${what.split(' ')[0]}`;
    throw new RoomfabricError(ErrorCode.LISTEN_FAILED, `${what}: ${why}: ${fix}`, {
      details: { port },
    });
  }
}

/** The error code of binding 127.0.0.1:port, or undefined when it can be bound. */
function bindError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () =>
      server.close(() => resolve(undefined)),
    );
  });
}

/**
 * Runs a testkit starter; when the process it started exits with an error of its own,
 * rethrows that error's line (`roomfabric: RF_...: ...`) rather than the testkit's report
 * with the whole output.
 */
async function starting<T>(what: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const own = /^roomfabric[^:\n]*: (.+)$/m.exec(message)?.[1];
    const first = message.split('\n')[0]!;
    throw new Error(`${what} did not start: ${own ?? first}`, { cause: err });
  }
}

/** The createServer(...) call that connects a backend to this cluster, ready to paste. */
function serverLine(
  nats: string[],
  redis: string,
  history: readonly HistoryPolicy[] | undefined,
): string {
  const options: Record<string, unknown> = {
    nats: nats.map(redactUrl),
    redis: redactRedisTarget(redis),
    ...(history && { history }),
  };
  return `createServer(${literal(options)})`;
}

/** A value as a JS literal in the house style: single quotes, spaces inside braces. */
function literal(value: unknown): string {
  if (typeof value === 'string') return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
  if (Array.isArray(value)) return `[${value.map(literal).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    return `{ ${entries.map(([k, v]) => `${k}: ${literal(v)}`).join(', ')} }`;
  }
  return String(value);
}

/** An HS256 JWT for `user` that may join and publish in every room, for trying the cluster. */
function devToken(secret: string, user: string, ttlSeconds: number): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    sub: user,
    iat: now,
    exp: now + ttlSeconds,
    rf: { join: ['*'], publish: ['*'] },
  };
  const body = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(claims)}`;
  return `${body}.${createHmac('sha256', secret).update(body).digest('base64url')}`;
}
