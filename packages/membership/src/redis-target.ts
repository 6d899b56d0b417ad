import { ErrorCode, redactUrl, RoomfabricError } from '@roomfabric/protocol';

/** One Redis server of a cluster's seed list. */
export interface RedisSeed {
  host: string;
  port: number;
}

/**
 * Where the index lives, as {@link parseRedisTarget} reads it: one Redis (a URL ioredis
 * takes as is) or a Redis Cluster (seed nodes, from which the client learns the rest, and
 * the credentials and TLS that apply to every node).
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | {
      kind: 'cluster';
      seeds: RedisSeed[];
      username?: string;
      password?: string;
      tls: boolean;
    };

const CLUSTER_SCHEMES: Record<string, boolean> = {
  'redis-cluster:': false,
  'rediss-cluster:': true,
};

function invalid(message: string): RoomfabricError {
  return new RoomfabricError(ErrorCode.INVALID_ARGUMENT, message);
}

/** `host:port` (or `[v6]:port`, or a bare host: port 6379) of a seed list. */
function seed(text: string, shown: string): RedisSeed {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]/?#@,\s]+)(?::(\d{1,5}))?$/.exec(text);
  const port = m?.[2] === undefined ? 6379 : Number(m[2]);
  if (!m || port < 1 || port > 65535) {
    throw invalid(`not a host:port in the Redis Cluster URL ${shown}: ${JSON.stringify(text)}`);
  }
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/**
 * `redis-cluster://[user:password@]host1:port1,host2:port2` (`rediss-cluster://` for TLS):
 * the seed nodes of one cluster and the credentials of all its nodes.
 */
function parseClusterUrl(text: string, tls: boolean): RedisTarget {
  const shown = text.replace(/\/\/[^@/]*@/, '//***@');
  const rest = text.slice(text.indexOf('//') + 2).replace(/\/$/, '');
  const at = rest.lastIndexOf('@');
  const auth = at >= 0 ? rest.slice(0, at) : '';
  const hosts = at >= 0 ? rest.slice(at + 1) : rest;
  if (hosts === '' || /[/?#]/.test(hosts)) {
    throw invalid(
      `a Redis Cluster URL is redis-cluster://[user:password@]host:port,host:port (no database, path or query), got ${shown}`,
    );
  }
  const seeds = hosts.split(',').map((h) => seed(h.trim(), shown));
  const colon = auth.indexOf(':');
  const user = decodeURIComponent(colon >= 0 ? auth.slice(0, colon) : auth);
  const password = colon >= 0 ? decodeURIComponent(auth.slice(colon + 1)) : undefined;
  // `redis://token@host` means a password in ioredis (no user): the same here.
  const target: RedisTarget = { kind: 'cluster', seeds, tls };
  if (password !== undefined) {
    target.password = password;
    if (user !== '') target.username = user;
  } else if (user !== '') target.password = user;
  return target;
}

/** The cluster of several `redis://` (or `rediss://`) URLs, one per seed node. */
function clusterOfUrls(urls: readonly string[]): RedisTarget {
  let tls: boolean | undefined;
  let username: string | undefined;
  let password: string | undefined;
  const seeds: RedisSeed[] = [];
  for (const text of urls) {
    const shown = redactUrl(text);
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      throw invalid(`not a Redis URL: ${shown} (e.g. redis://127.0.0.1:7000)`);
    }
    if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
      throw invalid(`the URLs of a Redis Cluster use redis:// or rediss://, got ${shown}`);
    }
    if (u.pathname !== '' && u.pathname !== '/') {
      throw invalid(`a Redis Cluster has no databases: drop the ${u.pathname} of ${shown}`);
    }
    const secure = u.protocol === 'rediss:';
    if (tls !== undefined && tls !== secure) {
      throw invalid('the URLs of one Redis Cluster must all use redis:// or all rediss://');
    }
    tls = secure;
    const user = decodeURIComponent(u.username);
    const pass = u.password === '' ? undefined : decodeURIComponent(u.password);
    const [thisUser, thisPass] =
      pass === undefined ? [undefined, user || undefined] : [user || undefined, pass];
    if (thisPass !== undefined) {
      if (password !== undefined && (password !== thisPass || username !== thisUser)) {
        throw invalid('the URLs of one Redis Cluster name different credentials');
      }
      password = thisPass;
      username = thisUser;
    }
    seeds.push(seed(u.host, shown));
  }
  const target: RedisTarget = { kind: 'cluster', seeds, tls: tls ?? false };
  if (password !== undefined) target.password = password;
  if (username !== undefined) target.username = username;
  return target;
}

/**
 * Reads where the index lives (`--redis`, `createServer({ redis })`, `createEdge`):
 * - `redis://[user:password@]host:port/db` or `rediss://...`: one Redis;
 * - several such URLs (a list, or one string with commas): the seed nodes of a Redis
 *   Cluster;
 * - `redis-cluster://[user:password@]host1:port1,host2:port2` (`rediss-cluster://` for
 *   TLS): a Redis Cluster, credentials once for all its nodes.
 * Throws `RF_INVALID_ARGUMENT` naming the input without its password.
 *
 * @example
 * parseRedisTarget('redis-cluster://:s3cret@10.0.0.1:7000,10.0.0.2:7000');
 * // { kind: 'cluster', seeds: [...], password: 's3cret', tls: false }
 */
export function parseRedisTarget(input: string | readonly string[]): RedisTarget {
  const list = (typeof input === 'string' ? [input] : Array.isArray(input) ? [...input] : [input])
    .flatMap((s) => (typeof s === 'string' && !/^rediss?-cluster:/i.test(s) ? s.split(',') : [s]))
    .map((s) => (typeof s === 'string' ? s.trim() : s))
    .filter((s) => s !== '');
  if (list.length === 0 || list.some((s) => typeof s !== 'string')) {
    throw invalid('the Redis index needs a URL, e.g. redis://127.0.0.1:6379');
  }
  if (list.length > 1) {
    if (list.some((s) => /^rediss?-cluster:/i.test(s))) {
      throw invalid('a redis-cluster:// URL already lists every seed node: give it alone');
    }
    return clusterOfUrls(list);
  }
  const text = list[0]!;
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(text)?.[0].toLowerCase();
  if (scheme !== undefined && scheme in CLUSTER_SCHEMES) {
    return parseClusterUrl(text, CLUSTER_SCHEMES[scheme]!);
  }
  if (scheme !== 'redis:' && scheme !== 'rediss:') {
    throw invalid(
      `the Redis index needs redis://, rediss:// or redis-cluster:// URLs, got ${redactUrl(text)}`,
    );
  }
  try {
    new URL(text);
  } catch {
    throw invalid(`not a Redis URL: ${redactUrl(text)}`);
  }
  return { kind: 'single', url: text };
}

/**
 * `--redis` as logs and errors may show it: each URL's password (or lone token) replaced
 * by `***`, for every form {@link parseRedisTarget} reads.
 *
 * @example
 * redactRedisTarget('redis-cluster://app:pw@h1:7000,h2:7000'); // 'redis-cluster://app:***@h1:7000,h2:7000'
 */
export function redactRedisTarget(input: string | readonly string[]): string {
  const list = typeof input === 'string' ? [input] : [...input];
  return list
    .flatMap((s) => (/^rediss?-cluster:/i.test(s) ? [s] : s.split(',')))
    .map((s) => {
      const text = s.trim();
      if (!/^rediss?-cluster:/i.test(text)) return redactUrl(text);
      return text.replace(/\/\/([^@/]*)@/, (_, auth: string) =>
        auth.includes(':') ? `//${auth.slice(0, auth.indexOf(':'))}:***@` : '//***@',
      );
    })
    .join(',');
}
