import { MemoryMembership } from '@roomfabric/membership';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected } from './support/clients.js';
import { startTestEdge } from './support/edge.js';
import { RawClient } from './support/raw-client.js';

describe('reverse index cleanup', () => {
  it('a disconnect leaves every room, deletes empty rooms, and clears the global index', async () => {
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ policy: 'open', membership });
    const events: string[] = [];
    t.edge.on('room:created', (room) => events.push(`+${room}`));
    t.edge.on('room:deleted', (room) => events.push(`-${room}`));

    const stays = await connected(t.url);
    await stays.join('shared');
    const goes = await connected(t.url);
    const rooms = Array.from({ length: 50 }, (_, i) => `solo-${i}`);
    for (const room of rooms) await goes.join(room);
    await goes.join('shared');
    const goneId = goes.id!;
    expect(t.edge.stats().rooms).toBe(51);
    expect(await membership.count('shared')).toBe(2);
    expect((await membership.roomsOf(goneId)).length).toBe(51);

    goes.close();
    await eventually(() => t.edge.sockets.size === 1, { timeoutMs: 2000, what: 'socket gone' });
    // Local: no room keeps the closed socket; its solo rooms are deleted.
    expect(t.edge.stats().rooms).toBe(1);
    const shared = await t.edge.in('shared').fetchSockets();
    expect(shared.map((s) => s.id)).toEqual([stays.id]);
    expect(events.filter((e) => e.startsWith('-')).sort()).toEqual(
      rooms.map((r) => `-${r}`).sort(),
    );
    expect(events).toContain('+shared');
    expect(events).not.toContain('-shared');
    // Global: the index forgot the socket in both directions.
    await eventually(async () => (await membership.socket(goneId)) === undefined, {
      timeoutMs: 2000,
      what: 'index cleanup',
    });
    expect(await membership.roomsOf(goneId)).toEqual([]);
    expect(await membership.count('shared')).toBe(1);
    expect(await membership.count('solo-0')).toBe(0);

    await stays.leave('shared');
    expect(t.edge.stats().rooms).toBe(0);
    expect(events.at(-1)).toBe('-shared');
    stays.close();
  });

  it('an abrupt drop (no close handshake) cleans up the same way', async () => {
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ policy: 'open', membership });
    const raw = await RawClient.open(t.url);
    await raw.join('x', 1);
    await raw.join('y', 2);
    raw.ws.terminate();
    await eventually(() => t.edge.sockets.size === 0, { timeoutMs: 2000, what: 'socket gone' });
    expect(t.edge.stats().rooms).toBe(0);
    await eventually(
      async () => (await membership.count('x')) === 0 && (await membership.count('y')) === 0,
      { timeoutMs: 2000, what: 'index cleanup' },
    );
  });

  it('a join racing a disconnect never leaves a ghost in the index', async () => {
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ policy: 'open', membership });
    for (let i = 0; i < 20; i++) {
      const raw = await RawClient.open(t.url);
      for (let r = 0; r < 5; r++) raw.send({ type: 2, id: r + 1, room: `race-${r}` });
      raw.ws.terminate();
    }
    await eventually(() => t.edge.sockets.size === 0, { timeoutMs: 2000, what: 'sockets gone' });
    await eventually(
      async () => {
        for (let r = 0; r < 5; r++) if ((await membership.count(`race-${r}`)) !== 0) return false;
        return true;
      },
      { timeoutMs: 2000, what: 'no ghosts' },
    );
    expect(t.edge.stats().rooms).toBe(0);
  });

  it('socket.join rejects with RF_MEMBERSHIP_UNAVAILABLE and undoes the local part when the index fails', async () => {
    const membership = new MemoryMembership();
    await using t = await startTestEdge({ policy: 'open', membership });
    const client = await connected(t.url);
    const failing = membership.join.bind(membership);
    membership.join = () =>
      Promise.reject(
        Object.assign(new Error('down'), {
          name: 'RoomfabricError',
          code: 'RF_MEMBERSHIP_UNAVAILABLE',
        }),
      );
    await expect(client.join('doomed')).rejects.toMatchObject({
      code: 'RF_MEMBERSHIP_UNAVAILABLE',
    });
    expect(t.edge.stats().rooms).toBe(0);
    expect([...t.edge.sockets.get(client.id!)!.rooms]).toEqual([]);
    expect([...client.rooms]).toEqual([]);
    membership.join = failing;
    await client.join('fine');
    expect(await membership.count('fine')).toBe(1);
    client.close();
  });
});
