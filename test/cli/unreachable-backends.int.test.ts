/*
 * `roomfabric edge` and `roomfabric membership` with NATS or Redis unreachable: they give
 * up within a few seconds, naming the URL (without its password) and what to check.
 * Redis is probed first, so a Redis that is down is reported even when NATS is down too.
 */
import { startNats, startRedis } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { exitWithin, expectEndedByItself, runCli } from './cli-process.js';

// Port 1 on loopback refuses connections: nothing listens there.
const DEAD_NATS = 'nats://alice:natsPassw0rd@127.0.0.1:1';
const DEAD_REDIS = 'redis://:redisPassw0rd@127.0.0.1:1';

async function expectFailure(args: string[], says: RegExp, withinMs: number): Promise<string> {
  const run = runCli(args);
  const exit = await exitWithin(run, withinMs + 10_000);
  expect({ exit, output: run.output() }).toEqual({ exit: 1, output: expect.stringMatching(says) });
  expect(run.elapsedMs()).toBeLessThan(withinMs);
  expect(run.output()).not.toContain('Passw0rd');
  expectEndedByItself(run);
  return run.output();
}

describe('unreachable NATS or Redis at start-up', () => {
  for (const command of ['edge', 'membership']) {
    const extra = command === 'edge' ? ['--insecure', '--port', '0'] : [];

    it(`roomfabric ${command}: NATS down -> RF_BUS_UNAVAILABLE naming the URL within ~5 s`, async () => {
      await using redis = await startRedis();
      const out = await expectFailure(
        [command, '--nats', DEAD_NATS, '--redis', redis.url, ...extra],
        /^roomfabric: RF_BUS_UNAVAILABLE: cannot reach NATS at nats:\/\/alice:\*\*\*@127\.0\.0\.1:1 .*is nats-server running\? is the port right\?$/m,
        9_000,
      );
      expect(out.trim().split('\n')).toHaveLength(1);
    });

    it(`roomfabric ${command}: Redis down -> RF_MEMBERSHIP_UNAVAILABLE naming the URL within ~5 s, before NATS is tried`, async () => {
      await using nats = await startNats();
      const says =
        /^roomfabric: RF_MEMBERSHIP_UNAVAILABLE: cannot reach Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1 .*is redis-server running\? is the port right\?$/m;
      const out = await expectFailure(
        [command, '--nats', nats.url, '--redis', DEAD_REDIS, ...extra],
        says,
        7_000,
      );
      expect(out).not.toMatch(/max retries/i);
      expect(out.trim().split('\n')).toHaveLength(1);
      // NATS down too: the Redis probe runs first, so it is what the user hears about.
      await expectFailure(
        [command, '--nats', DEAD_NATS, '--redis', DEAD_REDIS, ...extra],
        says,
        7_000,
      );
    });
  }
});
