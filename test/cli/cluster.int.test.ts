/*
 * `roomfabric cluster` as the README uses it: it prints the createServer line to paste
 * (with --nats-port / --redis-port for fixed ports), passes --presence, --history,
 * --channels and --jwt-secret-file to every edge, and refuses to call a cluster ready when
 * another process answers on an edge's port.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect as connectNats } from '@nats-io/transport-node';
import { transform } from 'esbuild';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { channelRoom } from '@roomfabric/protocol';
import { createServer, type ServerOptions } from '@roomfabric/server';
import { freePorts, signTestToken } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected } from '../support/clients.js';
import {
  alive,
  consecutiveFreePorts,
  exitWithin,
  repoRoot,
  runCli,
  waitForOutput,
  type CliRun,
} from './cli-process.js';

const READY = /Cluster ready/;
const SERVER_LINE = /^server API +(createServer\((\{.*\})\))$/m;

/** Pids the cluster printed for the processes it started. */
function startedPids(output: string): number[] {
  return [...output.matchAll(/pid (\d+)/g)].map((m) => Number(m[1]));
}

/** SIGINTs the cluster, expects exit code 0 and every process it started gone. */
async function stopCluster(run: CliRun): Promise<void> {
  const pids = startedPids(run.output());
  run.child.kill('SIGINT');
  expect(await exitWithin(run, 20_000)).toBe(0);
  expect(pids.filter(alive)).toEqual([]);
}

/** The options object of the printed createServer line. */
function serverOptions(output: string): ServerOptions {
  const literal = SERVER_LINE.exec(output)![2]!;
  return new Function(`return (${literal});`)() as ServerOptions;
}

/** The README's server-API snippet (the ts block that imports @roomfabric/server). */
function readmeServerSnippet(): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const snippet = blocks.find((b) => b.includes("from '@roomfabric/server'"));
  if (!snippet) throw new Error('README has no server-API snippet');
  return snippet;
}

/** A token for `sub` that may join and publish to doc:* rooms. */
function mint(secret: string, sub: string): Promise<string> {
  return signTestToken(sub, { rf: { join: ['doc:*'], publish: ['doc:*'] }, secret });
}

describe('roomfabric cluster', () => {
  it('prints the createServer line; the README server snippet with that line runs and exits by itself', async () => {
    const [natsPort, redisPort] = await freePorts(2);
    const base = await consecutiveFreePorts(2);
    const cluster = runCli([
      'cluster',
      '--edges',
      '2',
      '--port',
      String(base),
      '--nats-port',
      String(natsPort),
      '--redis-port',
      String(redisPort),
    ]);
    try {
      await waitForOutput(cluster, READY, 60_000);
      const line = SERVER_LINE.exec(cluster.output())![1]!;
      expect(line).toBe(
        `createServer({ nats: ['nats://127.0.0.1:${natsPort}'], redis: 'redis://127.0.0.1:${redisPort}' })`,
      );
      const snippet = readmeServerSnippet();
      const calls = snippet.match(/createServer\(\{[^\n]*\}\)/g) ?? [];
      expect(calls).toHaveLength(1);
      expect(snippet).toMatch(/await rf\.close\(\);/);
      const { code } = await transform(snippet.replace(calls[0]!, line), {
        loader: 'ts',
        format: 'esm',
      });
      const script = spawn(process.execPath, ['--input-type=module', '-e', code], {
        cwd: repoRoot,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      script.stdout.on('data', (d: Buffer) => (out += d.toString()));
      script.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exit = await new Promise<number | null | 'hung'>((resolve) => {
        const timer = setTimeout(() => resolve('hung'), 20_000);
        script.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      script.kill('SIGKILL');
      expect({ exit, out }).toEqual({ exit: 0, out: '' });
      await stopCluster(cluster);
    } finally {
      cluster.child.kill('SIGKILL');
    }
  });

  it('passes --presence, --history, --channels and --jwt-secret-file to every edge, and prints a dev token', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rf-cluster-'));
    const secretFile = join(dir, 'secret');
    const secret = 's3cret-'.repeat(6);
    writeFileSync(secretFile, `${secret}\n`);
    const base = await consecutiveFreePorts(2);
    const cluster = runCli([
      'cluster',
      '--edges',
      '2',
      '--port',
      String(base),
      '--presence',
      'doc:*',
      '--history',
      'doc:*,$chan:*',
      '--channels',
      '--jwt-secret-file',
      secretFile,
    ]);
    const clients: RoomfabricClient[] = [];
    try {
      await waitForOutput(cluster, READY, 60_000);
      const out = cluster.output();
      expect(out).not.toContain('s3cret-');
      const options = serverOptions(out);
      expect(options.history).toEqual([
        { rooms: ['doc:*', '$chan:*'], maxMessages: 100, maxAgeMs: 3_600_000 },
      ]);
      const token = /dev token +(\S+\.\S+\.\S+)/.exec(out)![1]!;
      const rf = await createServer(options);
      try {
        // Auth: without a token the edges refuse; with the printed one they take it.
        const anonymous = connect(`ws://127.0.0.1:${base}/ws`, { reconnect: false });
        clients.push(anonymous);
        await expect(anonymous.ready()).rejects.toThrow();
        // Channels: created and subscribed by the backend, joined by the user's sockets.
        await rf.channels.create('general');
        await rf.channels.subscribe('dev', 'general');
        const dev = await connected(`ws://127.0.0.1:${base}/ws`, { auth: { token } });
        clients.push(dev);
        const news: unknown[] = [];
        dev.on('news', (data, meta) => meta.room === channelRoom('general') && news.push(data));
        await expect
          .poll(async () => {
            await rf.channel('general').emit('news', 'hi');
            return news.length > 0;
          })
          .toBe(true);
        // Presence: a member of doc:1 on n1 hears another user join through n2.
        const notices: Array<{ kind: string; user: string }> = [];
        dev.on('$presence', (data) => notices.push(data as { kind: string; user: string }));
        await dev.join('doc:1');
        const grace = await connected(`ws://127.0.0.1:${base + 1}/ws`, {
          auth: { token: await mint(secret, 'grace') },
        });
        clients.push(grace);
        await grace.join('doc:1');
        await expect
          .poll(() => notices)
          .toContainEqual(expect.objectContaining({ kind: 'join', user: 'grace' }));
        expect(await rf.presenceStats('doc:1')).toEqual({ sockets: 2, users: 2 });
        // History: the broadcast to doc:1 is stored in JetStream, under the printed policy.
        await grace.to('doc:1').emitWithAck('edit', 'e1');
        const nc = await connectNats({ servers: options.nats as string[] });
        try {
          const jsm = await jetstreamManager(nc);
          const streams = await jsm.streams.list().next();
          const stored = streams
            .filter((info) => info.config.name.startsWith('RF_HISTORY_'))
            .map((info) => info.state.messages);
          expect(stored.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2); // edit + news
        } finally {
          await nc.close();
        }
      } finally {
        for (const client of clients) client.close();
        await rf.close();
      }
      await stopCluster(cluster);
    } finally {
      cluster.child.kill('SIGKILL');
    }
  });

  it('fails naming the port, and starts nothing, when another roomfabric process answers on an edge port', async () => {
    const base = await consecutiveFreePorts(2);
    const dev = runCli(['dev', '--port', String(base + 1)]);
    try {
      await waitForOutput(dev, /Press Ctrl-C/, 20_000);
      const cluster = runCli(['cluster', '--edges', '2', '--port', String(base)]);
      expect(await exitWithin(cluster, 30_000)).toBe(1);
      expect(cluster.output()).not.toMatch(READY);
      expect(cluster.output()).toMatch(new RegExp(`port ${base + 1}\\b.*(taken|in use)`));
      expect(startedPids(cluster.output()).filter(alive)).toEqual([]);
    } finally {
      dev.child.kill('SIGKILL');
    }
  });

  it('refuses --nats-port and --redis-port that are taken, before starting anything', async () => {
    const holder = createHttpServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    const taken = (holder.address() as { port: number }).port;
    try {
      for (const flag of ['--nats-port', '--redis-port']) {
        const cluster = runCli(['cluster', '--edges', '1', flag, String(taken)]);
        expect(await exitWithin(cluster, 15_000), flag).toBe(1);
        expect(cluster.output()).toMatch(new RegExp(`${flag} ${taken}: port ${taken} is taken`));
        expect(cluster.output()).not.toMatch(/pid \d+/);
      }
      const both = runCli(['cluster', '--nats-port', '1', '--nats', 'nats://127.0.0.1:4222']);
      expect(await exitWithin(both, 10_000)).toBe(2);
      expect(both.output()).toMatch(/--nats-port cannot be combined with --nats/);
    } finally {
      holder.close();
    }
  });
});
