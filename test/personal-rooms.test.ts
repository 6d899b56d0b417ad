import { connect } from '@roomfabric/client';
import { userRoom } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import { eventually, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { recorder } from './support/clients.js';
import { startTestEdge } from './support/edge.js';

const sign = (sub: string) => signTestToken(sub);

describe('personal rooms', () => {
  it('every device of a user is in $user:<id>; one emit reaches all of them and nobody else', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    const phone = await recorder(t.url, ['dm'], { auth: { token: await sign('ada') } });
    const laptop = await recorder(t.url, ['dm'], { auth: { token: await sign('ada') } });
    const other = await recorder(t.url, ['dm'], { auth: { token: await sign('bob') } });
    // In the room as soon as the client is connected: no join of its own needed.
    expect(t.edge.sockets.get(phone.client.id!)!.rooms.has(userRoom('ada'))).toBe(true);
    expect([...phone.client.rooms]).toEqual([]);
    await t.edge.to(userRoom('ada')).emit('dm', 'to every device of ada');
    await eventually(() => phone.got.length === 1 && laptop.got.length === 1, {
      timeoutMs: 2000,
      what: 'both devices',
    });
    expect(phone.got[0]).toEqual({
      event: 'dm',
      data: 'to every device of ada',
      room: '$user:ada',
    });
    expect(other.got).toEqual([]);
    const members = await t.edge.in(userRoom('ada')).fetchSockets();
    expect(members.map((s) => s.id).sort()).toEqual([phone.client.id, laptop.client.id].sort());
    // Nobody can join or address another user's personal room.
    await expect(other.client.join(userRoom('ada'))).rejects.toMatchObject({
      code: 'RF_ROOM_RESERVED',
    });
    expect(() => other.client.to(userRoom('ada')).emit('dm', 'x')).not.toThrow();
    await expect(other.client.to(userRoom('ada')).emitWithAck('dm', 'x')).rejects.toMatchObject({
      code: 'RF_ROOM_RESERVED',
    });
    // The room goes with the last device.
    phone.client.close();
    laptop.client.close();
    await eventually(() => t.edge.stats().rooms === 1, { timeoutMs: 2000, what: 'ada offline' });
    other.client.close();
  });

  it('a connection without a user id gets no personal room', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const client = connect(t.url);
    await client.ready();
    expect([...t.edge.sockets.get(client.id!)!.rooms]).toEqual([]);
    client.close();
  });
});
