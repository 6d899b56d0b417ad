import { execFileSync } from 'node:child_process';
import { request } from 'node:http';
import { resolveCliBin, type NatsHandle } from '@roomfabric/testkit';
import { sleep } from './raw-client.js';

/*
 * Shared settings and probes of the chaos suites (test/chaos): fast failure detection,
 * bounded polling, NATS monitoring reads and one printed line of figures per scenario.
 */

/** Edge lease: renewed every 250 ms, lapses 1 s after the last renewal. */
export const LEASE_INTERVAL_MS = 250;
export const LEASE_TTL_MS = 1000;
/** How often the membership service looks for lapsed leases. */
export const LEASE_CHECK_MS = 100;

/** Membership service flags for fast purges. */
export const MEMBERSHIP_ARGS = ['--lease-check-ms', String(LEASE_CHECK_MS)];

let insecure: boolean | undefined;

/**
 * Whether `roomfabric edge` has `--insecure` (edges that require auth unless told
 * otherwise). Read once from the built CLI's help, so the suite works before and after
 * JWT auth lands.
 */
export function edgeHasInsecureFlag(): boolean {
  insecure ??= execFileSync(process.execPath, [resolveCliBin(), 'edge', '--help'], {
    encoding: 'utf8',
    timeout: 10_000,
  }).includes('--insecure');
  return insecure;
}

/** Edge flags: open policy (clients join on their own), fast leases, no auth. */
export function chaosEdgeArgs(leaseTtlMs = LEASE_TTL_MS): string[] {
  return [
    '--policy',
    'open',
    '--lease-interval-ms',
    String(LEASE_INTERVAL_MS),
    '--lease-ttl-ms',
    String(leaseTtlMs),
    ...(edgeHasInsecureFlag() ? ['--insecure'] : []),
  ];
}

export { sleep };

/** Prints one line of figures for a scenario, e.g. `[chaos] edge kill #1: kill->rejoin max 212 ms, ...`. */
export function figures(scenario: string, values: Record<string, unknown>): void {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${format(v)}`);
  console.log(`[chaos] ${scenario}: ${parts.join(' ')}`);
}

function format(value: unknown): string {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(1);
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

/** Max, median and count of a list of durations, for figures. */
export function spread(values: readonly number[]): { n: number; p50: number; max: number } {
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)]! : 0,
    max: sorted.length ? sorted[sorted.length - 1]! : 0,
  };
}

/** GET of a JSON document on 127.0.0.1 with no keep-alive (servers here get killed). */
export function getJson(url: string, timeoutMs = 1000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode}`));
        else {
          try {
            resolve(JSON.parse(body) as Record<string, unknown>);
          } catch (err) {
            reject(err instanceof Error ? err : new Error(String(err)));
          }
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** What one NATS server holds: its client connections (by name) and its routes' interest. */
export interface NatsServerView {
  index: number;
  serverId: string;
  /** Connection name -> subjects it subscribes to. */
  connections: Map<string, Set<string>>;
  /** Remote server id -> subjects that server asked this one to route to it. */
  routeInterest: Map<string, Set<string>>;
}

/** Reads `/varz`, `/connz?subs=1` and `/routez?subs=1` of every running server. */
export async function natsViews(servers: readonly NatsHandle[]): Promise<NatsServerView[]> {
  const views = await Promise.all(
    servers.map(async (server, index) => {
      if (!server.running) return undefined;
      const base = `http://127.0.0.1:${server.monitorPort}`;
      const [varz, connz, routez] = await Promise.all([
        getJson(`${base}/varz`),
        getJson(`${base}/connz?subs=1&limit=1024`),
        getJson(`${base}/routez?subs=1`),
      ]);
      const connections = new Map<string, Set<string>>();
      for (const c of (connz.connections ?? []) as Array<{
        name?: string;
        subscriptions_list?: string[];
      }>) {
        if (c.name) connections.set(c.name, new Set(c.subscriptions_list ?? []));
      }
      const routeInterest = new Map<string, Set<string>>();
      for (const r of (routez.routes ?? []) as Array<{
        remote_id?: string;
        subscriptions_list?: string[];
      }>) {
        if (!r.remote_id) continue;
        const set = routeInterest.get(r.remote_id) ?? new Set<string>();
        for (const s of r.subscriptions_list ?? []) set.add(s);
        routeInterest.set(r.remote_id, set);
      }
      const view: NatsServerView = {
        index,
        serverId: String(varz.server_id),
        connections,
        routeInterest,
      };
      return view;
    }),
  );
  return views.filter((v): v is NatsServerView => v !== undefined);
}

/**
 * The server a named connection is on, with its subjects, or undefined. A name also
 * matches a connection called `name-<suffix>` (a replica id added by the CLI).
 */
export function findConnection(
  views: readonly NatsServerView[],
  name: string,
): { view: NatsServerView; subjects: Set<string> } | undefined {
  for (const view of views) {
    for (const [conn, subjects] of view.connections) {
      if (conn === name || conn.startsWith(`${name}-`)) return { view, subjects };
    }
  }
  return undefined;
}

/** Codes the docs call temporary: retrying the same operation later may succeed. */
export const TEMPORARY_CODES: ReadonlySet<string> = new Set([
  'RF_ACK_TIMEOUT',
  'RF_RATE_LIMITED',
  'RF_DISCONNECTED',
  'RF_QUEUE_FULL',
  'RF_CONNECT_FAILED',
  'RF_BUS_UNAVAILABLE',
  'RF_REQUEST_TIMEOUT',
  'RF_MEMBERSHIP_UNAVAILABLE',
]);
