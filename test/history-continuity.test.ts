import { connect, type RoomfabricClient } from '@roomfabric/client';
import { FrameType } from '@roomfabric/protocol';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';
import { RawClient } from './support/raw-client.js';

const history = [{ rooms: ['h:*'] }];

/**
 * Cuts the client's connection from the server side and resolves once the client knows
 * (it reconnects on its own, after the 300 ms the tests' clients wait).
 */
function drop(
  t: Awaited<ReturnType<typeof startTestEdge>>,
  client: RoomfabricClient,
): Promise<void> {
  const dropped = new Promise<void>((resolve) =>
    client.on('state', (state) => state === 'connecting' && resolve()),
  );
  t.edge.sockets.get(client.id!)!.ws.terminate();
  return dropped;
}

/** A reconnect that waits long enough for a test to act while the client is away. */
const slowReconnect = { reconnect: { minDelayMs: 300, maxDelayMs: 300, jitter: 0 } };

function record(
  client: RoomfabricClient,
  event: string,
): Array<{ data: unknown; room: string | null }> {
  const got: Array<{ data: unknown; room: string | null }> = [];
  client.on(event, (data, meta) => got.push({ data, room: meta.room }));
  return got;
}

describe('history rooms: each event once, across recoveries and raids', () => {
  it('a broadcast stored in two history rooms carries one id on both, and the SDK shows it once', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    const raw = await RawClient.open(t.url);
    await raw.join('h:b', 1); // in b only: it gets the event through b
    const client = connect(t.url, slowReconnect);
    await client.join('h:a');
    await client.join('h:b');
    const got = record(client, 'news');
    await t.edge.to(['h:a', 'h:b']).emit('news', 1);
    await eventually(() => got.length === 1);
    const frame = await raw.next((f) => f.type === FrameType.EVENT && f.event === 'news');
    expect(frame).toMatchObject({ room: 'h:b', bid: expect.any(String) });
    // It came through h:a, so the client's position in h:b is still before it. Leave h:a
    // while disconnected, then recover h:b alone: the replay holds the same broadcast.
    const rejoined = new Promise((resolve) => client.on('rejoined', resolve));
    await drop(t, client);
    await client.leave('h:a');
    expect(await rejoined).toMatchObject({ room: 'h:b', recovered: true, missed: 1 });
    await t.edge.to('h:b').emit('news', 2);
    await eventually(() => got.length >= 2);
    expect(got.map((g) => g.data)).toEqual([1, 2]);
    client.close();
    raw.close();
  });

  it('a raid into a history room tells each mover its position there, so a drop after it loses nothing', async () => {
    await using t = await startTestEdge({ policy: 'open', history });
    await t.edge.to('h:stage').emit('before', 0); // the room has a past the movers never get
    const client = connect(t.url, slowReconnect);
    await client.join('lobby');
    const got = record(client, 'show');
    const early = record(client, 'before');
    const moved = new Promise((resolve) => client.on('moved', resolve));
    await t.edge.raid('lobby', 'h:stage');
    expect(await moved).toEqual({ from: 'lobby', to: 'h:stage' });
    expect(client.rooms.has('h:stage')).toBe(true);
    expect(client.position('h:stage')).toMatchObject({ offset: expect.any(Number) });
    await t.edge.to('h:stage').emit('show', 1);
    await eventually(() => got.length === 1);
    // Dropped: what is sent meanwhile is recovered on the rejoin.
    const rejoined = new Promise((resolve) => client.on('rejoined', resolve));
    await drop(t, client);
    await t.edge.to('h:stage').emit('show', 2);
    await t.edge.to('h:stage').emit('show', 3);
    expect(await rejoined).toMatchObject({ room: 'h:stage', recovered: true, missed: 2 });
    await eventually(() => got.length === 3);
    expect(got.map((g) => g.data)).toEqual([1, 2, 3]);
    expect(early).toEqual([]);
    client.close();
  });
});
