import { connect } from '@roomfabric/client';
import { createServer } from '@roomfabric/server';
import { freePort, startCluster, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';

// Operations on real processes (`roomfabric edge` and `membership`, as the testkit spawns
// them): Prometheus metrics, readiness that follows NATS and Redis, JSON logs with the node
// id, and a graceful shutdown that sends clients to another edge.

/** The value of one series in Prometheus text, or undefined when absent. */
function sample(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

const text = async (url: string) => (await fetch(url)).text();
const status = async (url: string) => (await fetch(url)).status;

describe('operations on a 2-edge cluster', () => {
  it('metrics, readiness, JSON logs and graceful shutdown', async () => {
    const previous = process.env.RF_LOG_LEVEL;
    process.env.RF_LOG_LEVEL = 'info'; // the testkit's children log at warn by default
    const servicePort = await freePort();
    await using fabric = await startCluster({
      edges: 2,
      edgeArgs: ['--policy', 'open', '--insecure', '--drain-ms', '800'],
      membershipArgs: ['--port', String(servicePort), '--node-id', 'membership-a'],
    }).finally(() => {
      if (previous === undefined) delete process.env.RF_LOG_LEVEL;
      else process.env.RF_LOG_LEVEL = previous;
    });
    const [n1, n2] = fabric.edges;
    const service = `http://127.0.0.1:${servicePort}`;
    const rf = await createServer({ nats: fabric.natsUrls, redis: fabric.redis.url });
    const client = connect([n1!.url, n2!.url], { reconnect: { minDelayMs: 50, maxDelayMs: 200 } });
    try {
      await client.ready();
      expect(client.nodeId).toBe('n1');
      await client.join('ops');
      const got: unknown[] = [];
      client.on('tick', (data) => got.push(data));
      await rf.to('ops').emit('tick', 1);
      await eventually(() => got.length === 1, { timeoutMs: 3000, what: 'first broadcast' });

      // Edge metrics, read from the node's counters at scrape time.
      const res = await fetch(`${n1!.httpUrl}/metrics`);
      expect(res.headers.get('content-type')).toContain('text/plain');
      const edgeMetrics = await res.text();
      const node = { node: 'n1' };
      expect(sample(edgeMetrics, 'roomfabric_connections', node)).toBe(1);
      expect(sample(edgeMetrics, 'roomfabric_rooms', node)).toBe(1);
      expect(sample(edgeMetrics, 'roomfabric_joins_total', node)).toBe(1);
      expect(sample(edgeMetrics, 'roomfabric_deliveries_total', node)).toBe(1);
      expect(sample(edgeMetrics, 'roomfabric_bus_messages_total', { direction: 'in' })).toBe(1);
      expect(sample(edgeMetrics, 'roomfabric_ready', node)).toBe(1);
      for (const name of ['volatile_drops', 'slow_consumer_closes']) {
        expect(sample(edgeMetrics, `roomfabric_${name}_total`, node)).toBe(0);
      }
      const joins = { op: 'join', result: 'ok' };
      expect(sample(edgeMetrics, 'roomfabric_index_call_seconds_count', joins)).toBe(1);
      expect(sample(edgeMetrics, 'process_cpu_seconds_total', node)).toBeGreaterThan(0);

      // Service metrics: a raid shows up in its counter and duration histogram.
      await rf.raid('ops', 'ops-2');
      await eventually(() => client.rooms.has('ops-2'), {
        timeoutMs: 3000,
        what: 'client follows the raid',
      });
      const serviceMetrics = await text(`${service}/metrics`);
      const replica = { node: 'membership-a' };
      expect(sample(serviceMetrics, 'roomfabric_raids_total', replica)).toBe(1);
      expect(
        sample(serviceMetrics, 'roomfabric_raid_duration_seconds_count', { result: 'ok' }),
      ).toBe(1);
      expect(sample(serviceMetrics, 'roomfabric_raid_moved_sockets_total', replica)).toBe(1);
      expect(sample(serviceMetrics, 'roomfabric_index_call_seconds_count', { op: 'raid' })).toBe(1);
      expect(await status(`${service}/readyz`)).toBe(200);

      // Readiness follows Redis: down within the lease TTL (5 s), back after a restart.
      const t0 = performance.now();
      await fabric.redis.kill();
      await eventually(async () => (await status(`${n1!.httpUrl}/readyz`)) === 503, {
        timeoutMs: 12_000,
        what: 'edge not ready',
      });
      const edgeDown = performance.now() - t0;
      await eventually(async () => (await status(`${service}/readyz`)) === 503, {
        timeoutMs: 8000,
        what: 'service not ready',
      });
      const serviceDown = performance.now() - t0;
      console.log(
        `Redis killed: edge /readyz 503 after ${Math.round(edgeDown)} ms, service after ${Math.round(serviceDown)} ms`,
      );
      await fabric.redis.restart();
      await eventually(async () => (await status(`${n1!.httpUrl}/readyz`)) === 200, {
        timeoutMs: 12_000,
        what: 'edge ready again',
      });
      await eventually(async () => (await status(`${service}/readyz`)) === 200, {
        timeoutMs: 8000,
        what: 'service ready again',
      });
      await eventually(() => client.state === 'connected', {
        timeoutMs: 5000,
        what: 'client still connected',
      });

      // Graceful shutdown: n1 reports not ready while draining, then closes its clients with
      // 1001 and the client reconnects to n2, rejoining its room there.
      const reconnecting = new Promise<{ code: number; reason: string }>(
        (resolve) => client.on('connecting', resolve), // the first call settles it
      );
      const stopping = n1!.stop();
      await eventually(async () => (await status(`${n1!.httpUrl}/readyz`)) === 503, {
        timeoutMs: 3000,
        what: 'draining',
      });
      expect(client.state).toBe('connected'); // still served while the balancer moves away
      expect(await reconnecting).toEqual({ code: 1001, reason: 'RF_SERVER_SHUTDOWN' });
      await stopping;
      await eventually(() => client.state === 'connected' && client.nodeId === 'n2', {
        timeoutMs: 5000,
        what: 'on n2',
      });
      await rf.to('ops-2').emit('tick', 2);
      await eventually(() => got.length === 2, { timeoutMs: 3000, what: 'broadcast through n2' });

      // Structured JSON logs carry the node id.
      const lines = n1!
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const shutdown = lines.find((l) => String(l.msg).startsWith('shutting down'));
      expect(shutdown).toMatchObject({ level: 'info', node: 'n1', signal: 'SIGTERM' });
      expect(typeof shutdown?.time).toBe('number');
      const raidLog = fabric.membership
        .output()
        .split('\n')
        .filter((l) => l.includes('"raid done"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(raidLog[0]).toMatchObject({ level: 'info', node: 'membership-a', moved: 1 });
    } finally {
      client.close();
      await rf.close();
    }
  }, 60_000);
});
