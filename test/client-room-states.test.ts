import { connect, type RoomStateChange } from '@roomfabric/client';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';

describe('the client keeps an explicit state per room', () => {
  it('subscribing -> subscribed, back to subscribing on a drop, unsubscribed on leave, refusal, raid, close', async () => {
    await using t = await startTestEdge({
      policy: { join: (_socket, room) => room !== 'nope', publish: true },
    });
    const client = connect(t.url, { reconnect: { minDelayMs: 200, maxDelayMs: 200, jitter: 0 } });
    const changes: string[] = [];
    client.on('room:state', (c: RoomStateChange) =>
      changes.push(`${c.room} ${c.state} ${c.reason}`),
    );
    await client.join('a');
    expect(client.roomState('a')).toBe('subscribed');
    await expect(client.join('nope')).rejects.toMatchObject({ code: 'RF_FORBIDDEN' });
    expect(client.roomState('nope')).toBe('unsubscribed');
    // A drop: 'a' is to be rejoined, then joined again.
    t.edge.sockets.get(client.id!)!.ws.terminate();
    await eventually(() => client.roomState('a') === 'subscribing');
    await eventually(() => client.state === 'connected' && client.roomState('a') === 'subscribed');
    await client.join('b');
    await t.edge.raid('b', 'c');
    await eventually(() => client.roomState('c') === 'subscribed');
    await client.leave('a');
    client.close();
    expect(changes).toEqual([
      'a subscribing join',
      'a subscribed joined',
      'nope subscribing join',
      'nope unsubscribed RF_FORBIDDEN',
      'a subscribing RF_DISCONNECTED',
      'a subscribed joined',
      'b subscribing join',
      'b subscribed joined',
      'b unsubscribed moved',
      'c subscribed joined',
      'a unsubscribed leave',
      'c unsubscribed RF_CLIENT_CLOSED',
    ]);
  });
});
