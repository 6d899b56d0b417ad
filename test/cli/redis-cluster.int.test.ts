/*
 * `--redis` with a Redis Cluster: `roomfabric edge` and `membership` take a
 * redis-cluster:// URL or a list of seed URLs, print it without its password, and refuse
 * at start-up, in one line, a cluster that does not serve every slot or a malformed one.
 */
import { eventually, startNats, startRedisCluster } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { exitWithin, expectEndedByItself, runCli, waitForOutput } from './cli-process.js';

describe('--redis with a Redis Cluster', () => {
  it('roomfabric edge serves on a redis-cluster:// URL; membership on a list of seed URLs', async () => {
    await using nats = await startNats();
    await using cluster = await startRedisCluster({ primaries: 3 });
    const seeds = cluster.urls.map((u) => new URL(u).host).join(',');
    const edge = runCli([
      'edge',
      '--nats',
      nats.url,
      '--redis',
      `redis-cluster://${seeds}`,
      '--insecure',
      '--port',
      '0',
    ]);
    const membership = runCli([
      'membership',
      '--nats',
      nats.url,
      '--redis',
      cluster.urls.join(','),
    ]);
    try {
      await waitForOutput(edge, /ws:\/\/127\.0\.0\.1:\d+\/ws/, 15_000);
      expect(edge.output()).toContain(`redis redis-cluster://${seeds}`);
      await waitForOutput(membership, /roomfabric membership: ready/, 15_000);
      expect(membership.output()).toContain(`redis ${cluster.urls.join(',')}`);
    } finally {
      edge.child.kill('SIGTERM');
      membership.child.kill('SIGTERM');
      await Promise.all([exitWithin(edge, 10_000), exitWithin(membership, 10_000)]);
    }
  }, 45_000);

  it('refuses a cluster with a failed slot at start-up, in one line, within the connect timeout', async () => {
    await using nats = await startNats();
    await using cluster = await startRedisCluster({ primaries: 3 });
    const [victim] = await cluster.primaries();
    await victim!.kill();
    const alive = cluster.urls.filter((u) => u !== victim!.url);
    // The others mark it failed after the node timeout (1 s); until then it is unreachable.
    const survivor = cluster.nodes.find((n) => n !== victim)!;
    await eventually(
      async () => /cluster_state:fail/.test(String(await survivor.command('CLUSTER', 'INFO'))),
      { timeoutMs: 10_000, everyMs: 100, what: 'the cluster to mark the killed primary failed' },
    );
    const run = runCli([
      'membership',
      '--nats',
      nats.url,
      '--redis',
      alive.join(','),
      '--connect-timeout-ms',
      '4000',
    ]);
    const exit = await exitWithin(run, 20_000);
    expect({ exit, output: run.output().trim() }).toEqual({
      exit: 1,
      output: expect.stringMatching(
        /^roomfabric: RF_MEMBERSHIP_UNAVAILABLE: the Redis Cluster at cluster .* does not serve every slot \(cluster_state:fail, \d+ of 16384 slots ok\).*redis-cli --cluster check/,
      ),
    });
    expect(run.output().trim().split('\n')).toHaveLength(1);
    expectEndedByItself(run);
  }, 45_000);

  it('names what is wrong with a malformed --redis as a usage error', async () => {
    for (const [value, says] of [
      [
        'redis-cluster://:s3cret@h:99999',
        /--redis: not a host:port in the Redis Cluster URL redis-cluster:\/\/\*\*\*@h:99999/,
      ],
      [
        'redis://a:1,rediss://b:2',
        /--redis: the URLs of one Redis Cluster must all use redis:\/\/ or all rediss:\/\//,
      ],
    ] as const) {
      const run = runCli(['membership', '--nats', 'nats://127.0.0.1:1', '--redis', value]);
      expect(await exitWithin(run, 10_000)).toBe(2);
      expect(run.output()).toMatch(says);
      expect(run.output()).not.toContain('s3cret');
    }
  });
});
