import type { Socket } from '@roomfabric/edge';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { recorder, type Recorder } from './support/clients.js';
import { startTestEdge } from './support/edge.js';
import { RawClient, sleep } from './support/raw-client.js';

// The broadcast table of the seed text, on a real edge with real SDK clients.
describe('broadcast table', () => {
  async function setup() {
    const t = await startTestEdge({ policy: 'open' });
    const serverSockets = new Map<string, Socket>();
    t.edge.on('connection', (socket) => {
      serverSockets.set(socket.id, socket);
      socket.on('relay', (data) => {
        void socket.to('a').emit('relayed', data);
      });
    });
    const names = ['onlyA', 'onlyB', 'both', 'none', 'aAndMuted'] as const;
    const r = {} as Record<(typeof names)[number], Recorder>;
    for (const name of names) r[name] = await recorder(t.url, ['news', 'relayed', 'chat']);
    await r.onlyA.client.join('a');
    await r.onlyB.client.join('b');
    await r.both.client.join('a');
    await r.both.client.join('b');
    await r.aAndMuted.client.join('a');
    await r.aAndMuted.client.join('muted');
    const close = async () => {
      for (const x of Object.values(r)) x.client.close();
      await t.edge.close();
    };
    return { t, r, close, serverSockets };
  }

  const countOf = (rec: Recorder, event: string, data: unknown) =>
    rec.of(event).filter((d) => d === data).length;

  it('edge.to(room) reaches every member, once; non-members get nothing', async () => {
    const { t, r, close } = await setup();
    try {
      await t.edge.to('a').emit('news', 1);
      await eventually(() => countOf(r.aAndMuted, 'news', 1) === 1);
      await sleep(30);
      expect([r.onlyA, r.both, r.aAndMuted].map((x) => countOf(x, 'news', 1))).toEqual([1, 1, 1]);
      expect([r.onlyB, r.none].map((x) => countOf(x, 'news', 1))).toEqual([0, 0]);
      expect(r.onlyA.got[0]).toEqual({ event: 'news', data: 1, room: 'a' });
    } finally {
      await close();
    }
  });

  it('socket.to(room) excludes the sender; client.to(room) excludes the sender', async () => {
    const { r, close } = await setup();
    try {
      r.both.client.emit('relay', 'from-server-socket');
      r.onlyA.client.to('a').emit('chat', 'from-client');
      await eventually(
        () =>
          countOf(r.aAndMuted, 'relayed', 'from-server-socket') === 1 &&
          countOf(r.aAndMuted, 'chat', 'from-client') === 1,
      );
      await sleep(30);
      expect(countOf(r.both, 'relayed', 'from-server-socket')).toBe(0);
      expect(countOf(r.onlyA, 'relayed', 'from-server-socket')).toBe(1);
      expect(countOf(r.onlyA, 'chat', 'from-client')).toBe(0);
      expect(countOf(r.both, 'chat', 'from-client')).toBe(1);
      expect(countOf(r.onlyB, 'chat', 'from-client')).toBe(0);
    } finally {
      await close();
    }
  });

  it('.to(a).to(b) is a union: each member of either gets it exactly once', async () => {
    const { t, r, close } = await setup();
    try {
      for (let i = 0; i < 20; i++) void t.edge.to('a').to('b').emit('news', `u${i}`);
      await eventually(
        () => countOf(r.onlyB, 'news', 'u19') === 1 && countOf(r.both, 'news', 'u19') === 1,
      );
      await sleep(30);
      for (const x of [r.onlyA, r.onlyB, r.both, r.aAndMuted]) {
        expect(x.of('news')).toEqual(Array.from({ length: 20 }, (_, i) => `u${i}`));
      }
      expect(r.none.of('news')).toEqual([]);
      // The member of both rooms got it through the earlier listed room.
      expect(new Set(r.both.got.map((g) => g.room))).toEqual(new Set(['a']));
      expect(new Set(r.onlyB.got.map((g) => g.room))).toEqual(new Set(['b']));
      // A client broadcast to two rooms follows the same rule.
      r.both.client.to('b').to('a').emit('chat', 'multi');
      await eventually(
        () =>
          countOf(r.aAndMuted, 'chat', 'multi') === 1 && countOf(r.onlyB, 'chat', 'multi') === 1,
      );
      await sleep(30);
      expect(countOf(r.onlyA, 'chat', 'multi')).toBe(1);
      expect(countOf(r.both, 'chat', 'multi')).toBe(0);
    } finally {
      await close();
    }
  });

  it('.except(room) excludes its members; emit() without rooms reaches everyone', async () => {
    const { t, r, close } = await setup();
    try {
      await t.edge.to('a').except('muted').emit('news', 'e1');
      await t.edge.except('b').emit('news', 'e2');
      await t.edge.emit('news', 'all');
      await eventually(
        () => r.none.of('news').includes('all') && r.onlyA.of('news').includes('all'),
      );
      await sleep(30);
      expect(r.onlyA.of('news')).toEqual(['e1', 'e2', 'all']);
      expect(r.both.of('news')).toEqual(['e1', 'all']);
      expect(r.aAndMuted.of('news')).toEqual(['e2', 'all']);
      expect(r.onlyB.of('news')).toEqual(['all']);
      expect(r.none.of('news')).toEqual(['e2', 'all']);
    } finally {
      await close();
    }
  });

  it('fetchSockets, socketsJoin, socketsLeave and disconnectSockets act on the selection', async () => {
    const { t, r, close } = await setup();
    try {
      const ids = async (op: { fetchSockets(): Promise<Array<{ id: string }>> }) =>
        (await op.fetchSockets()).map((s) => s.id).sort();
      expect(await ids(t.edge.in('a'))).toEqual(
        [r.onlyA, r.both, r.aAndMuted].map((x) => x.client.id!).sort(),
      );
      expect(await ids(t.edge.in('a').except('b'))).toEqual(
        [r.onlyA, r.aAndMuted].map((x) => x.client.id!).sort(),
      );
      expect(await ids(t.edge)).toHaveLength(5);
      await t.edge.in('b').socketsJoin('c');
      expect(await ids(t.edge.in('c'))).toEqual([r.onlyB, r.both].map((x) => x.client.id!).sort());
      await t.edge.to('c').emit('news', 'to-c');
      await eventually(
        () => r.onlyB.of('news').includes('to-c') && r.both.of('news').includes('to-c'),
      );
      await t.edge.in('c').socketsLeave('c');
      expect(await ids(t.edge.in('c'))).toEqual([]);
      const gone = new Promise<{ code: number; reason: string }>((resolve) =>
        r.none.client.on('disconnected', resolve),
      );
      await t.edge.except(['a', 'b']).disconnectSockets();
      expect(await gone).toEqual({ code: 4501, reason: 'RF_KICKED' });
      expect(r.none.client.state).toBe('disconnected');
      await eventually(() => t.edge.sockets.size === 4);
    } finally {
      await close();
    }
  });

  it('volatile messages are dropped only for a socket under backpressure', async () => {
    await using t = await startTestEdge({
      policy: 'open',
      limits: { volatileBufferBytes: 64 * 1024, maxBufferedBytes: 256 * 1024 * 1024 },
    });
    const healthy = await recorder(t.url, ['v', 'n']);
    await healthy.client.join('room');
    const slow = await RawClient.open(t.url);
    await slow.join('room', 1);
    // Stop reading on the slow client's TCP socket so the edge's buffer for it grows.
    (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const payload = 'x'.repeat(4096);
    const total = 1500;
    for (let i = 0; i < total; i++) {
      void t.edge.volatile.to('room').emit('v', { i, payload });
      // One message per turn, so the healthy client keeps up and only the paused one lags.
      await new Promise((resolve) => setImmediate(resolve));
    }
    await eventually(() => healthy.of('v').length === total, {
      timeoutMs: 10_000,
      what: 'healthy client receives every volatile message',
    }).catch((err: unknown) => {
      console.log(`healthy got ${healthy.of('v').length}, drops ${t.edge.stats().volatileDrops}`);
      throw err;
    });
    const drops = t.edge.stats().volatileDrops;
    console.log(
      `volatile: healthy got ${healthy.of('v').length}/${total}, dropped for the paused socket: ${drops}`,
    );
    expect(drops).toBeGreaterThan(0);
    // Non-volatile messages are never dropped, even for the paused socket.
    for (let i = 0; i < 20; i++) void t.edge.to('room').emit('n', i);
    await eventually(() => healthy.of('n').length === 20);
    expect(t.edge.stats().volatileDrops).toBe(drops);
    (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    await eventually(() => slow.events('n').length === 20, {
      timeoutMs: 10_000,
      what: 'slow client catches up',
    });
    expect(slow.events('n').map((e) => e.data)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(slow.events('v').length).toBe(total - drops);
    healthy.client.close();
    slow.close();
  });
});
