import { connect } from '@roomfabric/client';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from '../support/edge.js';

async function stats(port: number, token?: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}/stats`, {
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  return { status: res.status, body: await res.text() };
}

describe('/stats (it listed every room that ever got a message, to anyone, for ever)', () => {
  it('names no room without permission; with a token or stats.public it names the busiest', async () => {
    const token = 'a-stats-token-for-ops-only';
    for (const [options, allowed] of [
      [{}, false],
      [{ stats: { token } }, 'token'],
      [{ stats: { public: true } }, true],
    ] as const) {
      await using t = await startTestEdge({ policy: 'open', ...options });
      const client = connect(t.url);
      await client.join('alice@corp.example:inbox');
      const got: unknown[] = [];
      client.on('x', (d) => got.push(d));
      await t.edge.to('alice@corp.example:inbox').emit('x', 1);
      await eventually(() => got.length === 1);
      const anonymous = await stats(t.port);
      expect(anonymous.status).toBe(200);
      expect(JSON.parse(anonymous.body)).toMatchObject({ sockets: 1, rooms: 1 });
      expect(anonymous.body.includes('alice@corp.example')).toBe(allowed === true);
      const withToken = await stats(t.port, token);
      expect(withToken.body.includes('alice@corp.example')).toBe(allowed !== false);
      const wrongToken = await stats(t.port, `${token}x`);
      expect(wrongToken.body.includes('alice@corp.example')).toBe(allowed === true);
      client.close();
    }
  });

  it('keeps counts only for the rooms the node holds now', async () => {
    await using t = await startTestEdge({
      policy: 'open',
      stats: { public: true },
      limits: { maxFramesPerSecond: 100_000 },
    });
    const client = connect(t.url);
    for (let i = 0; i < 300; i++) {
      await client.join(`r${i}`);
      await t.edge.to(`r${i}`).emit('x', i);
      await client.leave(`r${i}`);
    }
    await client.join('kept');
    await t.edge.to('kept').emit('x', 'k');
    await eventually(() => t.edge.busMessagesFor('kept') === 1);
    expect(Object.keys(t.edge.stats().busInByRoom)).toEqual(['kept']);
    client.close();
  });
});
