import { connect, type RoomfabricClient } from '@roomfabric/client';
import type { Socket } from '@roomfabric/edge';
import { describe, expect, it } from 'vitest';
import { eventually, signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { startTestEdge } from '../support/edge.js';

describe('a refresh to a token with fewer grants', () => {
  it('takes the socket out of the rooms the new token does not allow, telling the client', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    let server: Socket | undefined;
    t.edge.on('connection', (s) => {
      server = s;
      void s.join('app:managed'); // joined by application code: not the token's business
    });
    const client: RoomfabricClient = connect(t.url, {
      auth: { token: await signTestToken('ada', { rf: { join: ['doc:*', 'secret:*'] } }) },
    });
    await client.join('doc:1');
    await client.join('secret:plans');
    const left: unknown[] = [];
    client.on('left', (info) => left.push(info));
    await client.refresh({ token: await signTestToken('ada', { rf: { join: ['doc:*'] } }) });
    expect([...server!.rooms].sort()).toEqual(['$user:ada', 'app:managed', 'doc:1']);
    await eventually(() => left.length === 1);
    expect(left).toEqual([
      { room: 'secret:plans', code: 'RF_FORBIDDEN', reason: expect.any(String) },
    ]);
    expect([...client.rooms]).toEqual(['doc:1']);
    expect(await t.edge.in('secret:plans').fetchSockets()).toEqual([]);
    // Broadcasts to it no longer reach the client, and it is not rejoined after a drop.
    const got: unknown[] = [];
    client.on('x', (d) => got.push(d));
    await t.edge.to('secret:plans').emit('x', 'leak');
    await t.edge.to('doc:1').emit('x', 'ok');
    await eventually(() => got.length === 1);
    expect(got).toEqual(['ok']);
    client.close();
  });

  it('a server-side leave of a room the client joined tells the client, which does not rejoin it', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const sockets: Socket[] = [];
    t.edge.on('connection', (s) => sockets.push(s));
    const client = connect(t.url, { reconnect: { minDelayMs: 10, maxDelayMs: 20 } });
    await client.join('a');
    await client.join('b');
    const left: unknown[] = [];
    client.on('left', (info) => left.push(info));
    await t.edge.in('a').socketsLeave('a');
    await eventually(() => left.length === 1);
    expect(left).toEqual([{ room: 'a', code: 'RF_KICKED', reason: expect.any(String) }]);
    // After a reconnect it is in b only.
    sockets[0]!.ws.terminate();
    await eventually(() => sockets.length === 2 && client.state === 'connected');
    await eventually(() => sockets[1]!.rooms.has('b'));
    expect(sockets[1]!.rooms.has('a')).toBe(false);
    client.close();
  });
});
