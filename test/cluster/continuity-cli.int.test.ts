/*
 * The continuity features through the `roomfabric edge` and `roomfabric membership`
 * processes, as an operator runs them: --channels, --presence and --history together,
 * with token auth and no --policy (the tokens' grants decide), on real NATS (JetStream)
 * and Redis. The in-process suites test each feature in depth; this one proves the flags
 * reach the same code.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RoomfabricClient } from '@roomfabric/client';
import { channelRoom } from '@roomfabric/protocol';
import { createServer } from '@roomfabric/server';
import {
  signTestToken,
  startEdge,
  startMembership,
  startNats,
  startRedis,
  TEST_JWT_SECRET,
} from '@roomfabric/testkit';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { connected } from '../support/clients.js';

const HISTORY = { rooms: ['doc:*', '$chan:*'], maxMessages: 50 };
const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

const token = async (sub: string) => ({
  token: await signTestToken(sub, {
    rf: { join: ['doc:*'], publish: ['doc:*'], info: { name: sub } },
  }),
});

describe('roomfabric edge with --channels, --presence and --history', () => {
  it('auto-joins channels, announces presence and replays history across two edge processes', async () => {
    await using nats = await startNats({ jetstream: true });
    await using redis = await startRedis();
    const dir = mkdtempSync(join(tmpdir(), 'rf-continuity-'));
    writeFileSync(join(dir, 'secret'), TEST_JWT_SECRET);
    const args = [
      '--jwt-secret-file',
      join(dir, 'secret'),
      '--channels',
      '--presence',
      'doc:*',
      '--history',
      'doc:*,$chan:*',
      '--history-max-messages',
      '50',
    ];
    await using membership = await startMembership({
      nats: nats.url,
      redis: redis.url,
      args: ['--presence', 'doc:*'],
    });
    await using a = await startEdge({ nats: nats.url, redis: redis.url, nodeId: 'a', args });
    await using b = await startEdge({ nats: nats.url, redis: redis.url, nodeId: 'b', args });
    expect(membership.running).toBe(true);
    const server = await createServer({ nats: nats.url, redis: redis.url, history: [HISTORY] });
    const clients: RoomfabricClient[] = [];
    try {
      // Channels: created and subscribed while the user is offline, joined on connect.
      await server.channels.create('general');
      await server.channels.subscribe('ada', 'general');
      const ada = await connected(a.url, {
        auth: () => token('ada'),
        reconnect: { minDelayMs: 20, maxDelayMs: 50 },
      });
      clients.push(ada);
      const news: unknown[] = [];
      ada.on('news', (data, meta) => {
        if (meta.room === channelRoom('general')) news.push(data);
      });
      await server.channel('general').emit('news', 'hello channel');
      await expect.poll(() => news).toEqual(['hello channel']);

      // Presence: grace joins the doc on the other node; ada sees one join.
      const notices: Array<{ kind: string; user: string }> = [];
      ada.on('$presence', (data) => notices.push(data as { kind: string; user: string }));
      await ada.join('doc:1');
      const grace = await connected(b.url, { auth: () => token('grace') });
      clients.push(grace);
      await grace.join('doc:1');
      await expect
        .poll(() => notices)
        .toContainEqual(expect.objectContaining({ kind: 'join', user: 'grace' }));
      expect(await server.presenceStats('doc:1')).toEqual({ sockets: 2, users: 2 });

      // History: ada's edge dies; she gets what grace sent meanwhile when she is back.
      const got: string[] = [];
      const rejoins: Array<{ room: string; recovered: boolean | null; missed: number }> = [];
      ada.on('edit', (data) => got.push(data as string));
      ada.on('rejoined', (r) => rejoins.push(r));
      await grace.to('doc:1').emitWithAck('edit', 'e0');
      await expect.poll(() => got).toEqual(['e0']);
      await a.kill('SIGKILL');
      for (let i = 1; i <= 5; i++) await grace.to('doc:1').emitWithAck('edit', `e${i}`);
      await server.channel('general').emit('news', 'while away');
      // Ada's SDK knows only a's URL: a process restarted on a's port and node id takes
      // her back, and her position in doc:1 comes with her.
      await a.restart();
      await expect
        .poll(() => rejoins.find((r) => r.room === 'doc:1'), { timeout: 10_000 })
        .toEqual({
          room: 'doc:1',
          recovered: true,
          missed: 5,
        });
      await expect.poll(() => got).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e5']);
      // Back on a (restarted), ada is in her channel again, and got what it had meanwhile:
      // the server joined her to it, and her position came back in CONNECT.
      expect(rejoins.find((r) => r.room === channelRoom('general'))).toEqual({
        room: channelRoom('general'),
        recovered: true,
        missed: 1,
      });
      await server.channel('general').emit('news', 'after restart');
      await expect.poll(() => news).toEqual(['hello channel', 'while away', 'after restart']);
    } finally {
      for (const c of clients) c.close();
      await server.close();
    }
  });

  it('refuses to start with --channels or --history when the NATS server has no JetStream, saying why', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    const cases = [
      { flags: ['--channels'], says: /RF_CHANNEL_STORE_UNAVAILABLE.*jetstream is not enabled/i },
      {
        flags: ['--history', 'hist:*'],
        says: /RF_HISTORY_UNAVAILABLE.*history needs NATS JetStream.*jetstream is not enabled/i,
      },
    ];
    for (const { flags, says } of cases) {
      const child = spawn(
        process.execPath,
        [
          bin,
          'edge',
          '--nats',
          nats.url,
          '--redis',
          redis.url,
          '--insecure',
          '--port',
          '0',
          ...flags,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const code = await new Promise<number | null>((resolve) => {
        const timer = setTimeout(() => {
          child.kill('SIGKILL');
          resolve(null);
        }, 20_000);
        child.on('exit', (c) => {
          clearTimeout(timer);
          resolve(c);
        });
      });
      expect(code, flags.join(' ')).not.toBe(0);
      expect(code, flags.join(' ')).not.toBeNull();
      expect(out).toMatch(says);
      expect(out).not.toMatch(/roomfabric edge .*ws:\/\//); // never served
    }
  });
});
