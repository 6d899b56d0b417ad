/*
 * Every start-up failure of every long-running command exits promptly with a non-zero code
 * and one clear line, having closed what it opened: the process ends because nothing is
 * left open, not because bin.ts forced it (it says so when it has to: FORCED_EXIT).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startNats, startRedis } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import {
  alive,
  consecutiveFreePorts,
  exitWithin,
  expectEndedByItself,
  runCli,
  type CliRun,
} from './cli-process.js';

/** A TCP listener on a free port of 127.0.0.1 (not a roomfabric process). */
async function holdPort(port = 0): Promise<Server & { port: number }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return Object.assign(server, { port: (server.address() as { port: number }).port });
}

/** Expects the run to end by itself within `ms` with `code`, its last line matching `says`. */
async function failsPromptly(run: CliRun, code: number, says: RegExp, ms = 5_000): Promise<void> {
  const exit = await exitWithin(run, ms + 5_000);
  expect({ exit, output: run.output() }).toEqual({
    exit: code,
    output: expect.stringMatching(says),
  });
  expectEndedByItself(run);
  expect(run.elapsedMs()).toBeLessThan(ms);
}

describe('start-up failures close what they opened and exit', () => {
  it('roomfabric edge: a JWT secret under 32 bytes, found before connecting anywhere', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'rf-secret-'));
    const file = join(dir, 'short');
    writeFileSync(file, 'too-short\n');
    const base = ['edge', '--nats', nats.url, '--redis', redis.url, '--port', '0'];
    const run = runCli([...base, '--jwt-secret-file', file]);
    await failsPromptly(
      run,
      2,
      new RegExp(
        `^roomfabric edge: --jwt-secret-file ${file}: a JWT secret must be at least 32 bytes \\(this one has 9\\)`,
      ),
    );
    const env = runCli(base, { env: { RF_JWT_SECRET: 'short' } });
    await failsPromptly(env, 2, /RF_JWT_SECRET: a JWT secret must be at least 32 bytes/);
    const pem = join(dir, 'key.pem');
    writeFileSync(pem, 'not a key');
    const key = runCli([...base, '--jwt-public-key', pem]);
    await failsPromptly(key, 2, new RegExp(`--jwt-public-key ${pem}: `));
  });

  it('roomfabric edge: flag values checked before connecting (heartbeat, history replicas, channel limits)', async () => {
    await using nats = await startNats({ jetstream: true });
    await using redis = await startRedis();
    const base = ['edge', '--nats', nats.url, '--redis', redis.url, '--port', '0', '--insecure'];
    for (const [flags, says] of [
      [['--heartbeat-ms', '5'], /--heartbeat-ms must be an integer from 100/],
      [['--history', 'doc:*', '--history-replicas', '9'], /--history-replicas must be an integer/],
      [['--channels', '--max-channels-per-user', '0'], /--max-channels-per-user must be/],
      [['--policy', 'maybe'], /--policy must be open or closed/],
    ] as Array<[string[], RegExp]>) {
      await failsPromptly(runCli([...base, ...flags]), 2, says);
    }
  });

  it('roomfabric edge: a failure after connecting (port taken) closes NATS and Redis', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    await using held = await holdPort();
    const run = runCli([
      'edge',
      '--nats',
      nats.url,
      '--redis',
      redis.url,
      '--port',
      String(held.port),
      '--insecure',
    ]);
    await failsPromptly(
      run,
      1,
      new RegExp(`^roomfabric: RF_LISTEN_FAILED: .*port ${held.port} .*EADDRINUSE`, 'm'),
    );
  });

  it('roomfabric membership: a taken --port closes NATS and Redis; a bad flag connects nowhere', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    await using held = await holdPort();
    const base = ['membership', '--nats', nats.url, '--redis', redis.url];
    await failsPromptly(
      runCli([...base, '--port', String(held.port)]),
      1,
      new RegExp(`RF_LISTEN_FAILED: .*port ${held.port} `),
    );
    await failsPromptly(
      runCli([...base, '--presence', ',']),
      2,
      /--presence needs at least one room pattern/,
    );
  });

  it('roomfabric dev: a taken port or an address it cannot bind', async () => {
    await using held = await holdPort();
    await failsPromptly(
      runCli(['dev', '--port', String(held.port)]),
      1,
      new RegExp(`RF_LISTEN_FAILED: .*port ${held.port} `),
    );
    await failsPromptly(
      runCli(['dev', '--port', '0', '--host', '192.0.2.1']),
      1,
      /RF_LISTEN_FAILED: cannot listen on 192\.0\.2\.1/,
    );
  });

  it('roomfabric cluster: an edge that cannot start stops everything already started', async () => {
    const base = await consecutiveFreePorts(2);
    const dir = mkdtempSync(join(tmpdir(), 'rf-secret-'));
    writeFileSync(join(dir, 'short'), 'short');
    const short = runCli(['cluster', '--edges', '1', '--jwt-secret-file', join(dir, 'short')]);
    await failsPromptly(short, 2, /a JWT secret must be at least 32 bytes/);
    expect(short.output()).not.toMatch(/pid \d+/); // checked before anything started

    // The second edge's port is free when the cluster looks, and taken when that edge binds.
    const run = runCli(['cluster', '--edges', '2', '--port', String(base)]);
    let held: (Server & { port: number }) | undefined;
    try {
      while (!/edge n1 /.test(run.output()) && run.child.exitCode === null) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      held = await holdPort(base + 1);
      const exit = await exitWithin(run, 30_000);
      expect({ exit, output: run.output() }).toEqual({
        exit: 1,
        output: expect.stringMatching(new RegExp(`port ${base + 1}`)),
      });
      expect(run.output()).not.toMatch(/Cluster ready/);
      expectEndedByItself(run);
      const pids = [...run.output().matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
      expect(pids.length).toBeGreaterThanOrEqual(3); // nats, redis, membership
      expect(pids.filter(alive)).toEqual([]);
    } finally {
      run.child.kill('SIGKILL');
      held?.close();
    }
  });
});
