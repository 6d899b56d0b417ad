import type { EventMeta } from '@roomfabric/client';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected } from './support/clients.js';
import { startTestEdge } from './support/edge.js';

describe('tick streams (high-rate positions)', () => {
  it('20 players at 60 Hz: each member gets one batch per tick with every latest position', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const positions = t.edge.stream('arena', { event: 'positions', hz: 20 });
    t.edge.on('connection', (socket) => {
      void socket.join('arena');
      socket.on('pos', (p) => positions.set(socket.id, p));
      socket.on('disconnect', () => positions.delete(socket.id));
    });
    const players = await Promise.all(Array.from({ length: 20 }, () => connected(t.url)));
    const batches: Array<Record<string, unknown>> = [];
    players[0]!.on('positions', (data: unknown, meta: EventMeta) => {
      expect(meta.room).toBe('arena');
      batches.push(data as Record<string, unknown>);
    });
    const last = new Map<string, number>();
    const started = Date.now();
    let sent = 0;
    for (let frame = 0; frame < 60; frame++) {
      for (const p of players) {
        p.volatile.emit('pos', { x: frame });
        last.set(p.id!, frame);
        sent++;
      }
      await new Promise((r) => setTimeout(r, 1000 / 60));
    }
    const seconds = (Date.now() - started) / 1000;
    await eventually(
      () => batches.some((b) => Object.values(b).some((v) => (v as { x: number }).x === 59)),
      { timeoutMs: 2000, what: 'last frame' },
    );
    await new Promise((r) => setTimeout(r, 120));
    // Latest value wins: merging the batches in order gives every player's last position.
    const merged: Record<string, { x: number }> = Object.assign({}, ...batches);
    for (const [id, x] of last) expect(merged[id]).toEqual({ x });
    console.log(
      `tick stream: ${sent} updates in ${seconds.toFixed(2)} s became ${batches.length} messages for a member ` +
        `(naive: ${sent - 60}); stream counters ${JSON.stringify(positions.counters)}`,
    );
    expect(batches.length).toBeLessThanOrEqual(Math.ceil(seconds * 20) + 3);
    expect(batches.length).toBeGreaterThan(5);
    // A player that leaves is announced once as null.
    const gone = players[1]!.id!;
    players[1]!.close();
    await eventually(() => batches.some((b) => gone in b && b[gone] === null), {
      timeoutMs: 2000,
      what: 'tombstone',
    });
    for (const p of players) p.close();
  });

  it('rejects bad options with stable codes', async () => {
    await using t = await startTestEdge();
    expect(() => t.edge.stream('', { event: 'x' })).toThrow(
      expect.objectContaining({ code: 'RF_ROOM_INVALID' }),
    );
    expect(() => t.edge.stream('r', { event: 'error' })).toThrow(
      expect.objectContaining({ code: 'RF_EVENT_RESERVED' }),
    );
    expect(() => t.edge.stream('r', { event: 'x', hz: 0 })).toThrow(
      expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
    );
  });
});
