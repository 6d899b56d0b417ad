import { encode } from '@msgpack/msgpack';
import { FrameType, PROTOCOL_VERSION } from '@roomfabric/protocol';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { RawClient } from './support/raw-client.js';
import { startTestEdge } from './support/edge.js';

/** A bystander in room "safe": after each attack it must still be there and still receive. */
async function bystanderStillFine(url: string, bystander: RawClient, n: number): Promise<void> {
  const sender = await RawClient.open(url);
  await sender.join('safe', 1);
  sender.send({ type: FrameType.EMIT, event: 'ping', data: n, id: 0, rooms: ['safe'], flags: 0 });
  await bystander.next((f) => f.type === FrameType.EVENT && f.data === n);
  sender.close();
}

describe('edge: bad input gets its documented code and harms no one else', () => {
  it('answers each bad input as docs/errors.md says', async () => {
    await using t = await startTestEdge({ policy: 'open', limits: { maxRoomsPerSocket: 3 } });
    const bystander = await RawClient.open(t.url);
    await bystander.join('safe', 1);
    let n = 0;

    // Malformed msgpack: close 1007.
    let c = await RawClient.open(t.url);
    c.sendRaw(new Uint8Array([0xc1, 0x00]));
    expect(await c.closeEvent()).toEqual({ code: 1007, reason: 'RF_FRAME_MALFORMED' });
    expect(c.errors()[0]).toMatchObject({ code: 'RF_FRAME_MALFORMED', id: 0 });
    await bystanderStillFine(t.url, bystander, ++n);

    // Truncated value: close 1007.
    c = await RawClient.open(t.url);
    c.sendRaw(new Uint8Array([0x93, 0x02, 0x01]));
    expect((await c.closeEvent()).code).toBe(1007);

    // A known frame type with wrong fields: close 1002.
    c = await RawClient.open(t.url);
    c.sendValue([FrameType.JOIN, 'not-an-id', 5]);
    expect(await c.closeEvent()).toEqual({ code: 1002, reason: 'RF_FRAME_INVALID' });

    // Unknown frame type: an error frame; the connection stays usable.
    c = await RawClient.open(t.url);
    c.sendValue([42, 'future']);
    await c.next((f) => f.type === FrameType.ERROR);
    expect(c.errors()[0]).toMatchObject({ code: 'RF_FRAME_UNKNOWN_TYPE', id: 0 });
    expect(await c.join('other', 2)).toMatchObject({ type: FrameType.ACK, id: 2 });
    expect(c.closed).toBeUndefined();
    c.close();

    // Oversized frame: ws closes with 1009.
    c = await RawClient.open(t.url);
    c.sendRaw(encode([FrameType.EMIT, 'big', 'x'.repeat(70 * 1024), 0, null]));
    expect((await c.closeEvent()).code).toBe(1009);
    await bystanderStillFine(t.url, bystander, ++n);

    // A lone surrogate is not UTF-8 once encoded: the message is malformed (close 1007),
    // as is any str that is not UTF-8 (the decoder would silently change it).
    c = await RawClient.open(t.url);
    c.send({ type: FrameType.JOIN, id: 13, room: '\ud800' });
    expect(await c.closeEvent()).toEqual({ code: 1007, reason: 'RF_FRAME_MALFORMED' });

    // Text frame: close 1003.
    c = await RawClient.open(t.url);
    c.sendRaw('{"join":"room"}');
    expect(await c.closeEvent()).toEqual({ code: 1003, reason: 'RF_FRAME_TEXT' });

    // Invalid room ids: error replies with the request id, nothing joined.
    c = await RawClient.open(t.url);
    for (const [i, room] of ['', 'x'.repeat(201), 'a\u0000b'].entries()) {
      expect(await c.join(room, 10 + i)).toMatchObject({
        type: FrameType.ERROR,
        id: 10 + i,
        code: 'RF_ROOM_INVALID',
      });
    }
    expect(await c.join('$reserved', 20)).toMatchObject({ code: 'RF_ROOM_RESERVED' });
    // Too many rooms.
    for (const r of ['r1', 'r2', 'r3'])
      expect(await c.join(r, 30 + Number(r[1]))).toMatchObject({ type: FrameType.ACK });
    expect(await c.join('r4', 40)).toMatchObject({ type: FrameType.ERROR, code: 'RF_ROOM_LIMIT' });
    expect([...t.edge.sockets.get(c.hello.socketId)!.rooms].sort()).toEqual(['r1', 'r2', 'r3']);
    // Broadcast to a room it is not in, to a reserved room, with a reserved event name.
    c.send({ type: FrameType.EMIT, event: 'x', data: 1, id: 50, rooms: ['safe'], flags: 0 });
    expect(await c.next((f) => f.type === FrameType.ERROR && f.id === 50)).toMatchObject({
      code: 'RF_NOT_IN_ROOM',
    });
    c.send({ type: FrameType.EMIT, event: 'connect', data: 1, id: 51, rooms: null, flags: 0 });
    expect(await c.next((f) => f.type === FrameType.ERROR && f.id === 51)).toMatchObject({
      code: 'RF_EVENT_RESERVED',
    });
    c.send({ type: FrameType.EMIT, event: '', data: 1, id: 52, rooms: null, flags: 0 });
    expect(await c.next((f) => f.type === FrameType.ERROR && f.id === 52)).toMatchObject({
      code: 'RF_EVENT_INVALID',
    });
    // Ack for an unknown id.
    c.send({ type: FrameType.ACK, id: 777, data: null });
    expect(
      await c.next((f) => f.type === FrameType.ERROR && f.code === 'RF_ACK_UNKNOWN'),
    ).toMatchObject({ id: 0 });
    // Emit with ack to an event nobody handles.
    c.send({ type: FrameType.EMIT, event: 'nobody', data: 1, id: 53, rooms: null, flags: 0 });
    expect(await c.next((f) => f.type === FrameType.ERROR && f.id === 53)).toMatchObject({
      code: 'RF_NO_HANDLER',
    });
    expect(c.closed).toBeUndefined();
    c.close();

    await bystanderStillFine(t.url, bystander, ++n);
    expect([...t.edge.sockets.get(bystander.hello.socketId)!.rooms]).toEqual(['safe']);
    expect(bystander.closed).toBeUndefined();
    expect(bystander.errors()).toEqual([]);
  });

  it('requires CONNECT first, alone, with a supported version', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    let c = await RawClient.open(t.url, false);
    c.send({ type: FrameType.JOIN, id: 1, room: 'a' });
    expect(await c.closeEvent()).toEqual({ code: 1002, reason: 'RF_HANDSHAKE_REQUIRED' });

    c = await RawClient.open(t.url, false);
    c.send({ type: FrameType.CONNECT, version: PROTOCOL_VERSION + 1, auth: null });
    expect(await c.closeEvent()).toEqual({ code: 4502, reason: 'RF_PROTOCOL_VERSION' });

    c = await RawClient.open(t.url);
    c.send({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: null });
    expect(await c.closeEvent()).toEqual({ code: 1002, reason: 'RF_FRAME_INVALID' });
    await eventually(() => t.edge.sockets.size === 0, { timeoutMs: 2000, what: 'socket removed' });
  });

  it('closes a connection that never completes the handshake', async () => {
    await using t = await startTestEdge({ handshakeTimeoutMs: 150 });
    const c = await RawClient.open(t.url, false);
    expect(await c.closeEvent()).toEqual({ code: 4001, reason: 'RF_HANDSHAKE_TIMEOUT' });
  });

  it('refuses a connection when middleware says no, with the code it gave', async () => {
    await using t = await startTestEdge();
    t.edge.use((socket, next) => {
      const auth = socket.handshake.auth as { token?: string } | null;
      if (auth?.token === 'good') {
        socket.data.user = 'u1';
        next();
      } else next(new Error('bad token'));
    });
    const bad = await RawClient.open(t.url, false);
    bad.send({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: { token: 'nope' } });
    expect(await bad.closeEvent()).toEqual({ code: 4500, reason: 'RF_UNAUTHORIZED' });
    expect(bad.errors()[0]).toMatchObject({ code: 'RF_UNAUTHORIZED', message: 'bad token' });
    const good = await RawClient.open(t.url, true, { token: 'good' });
    expect(t.edge.sockets.get(good.hello.socketId)?.data).toEqual({ user: 'u1' });
    // The default policy is closed: clients cannot join on their own.
    expect(await good.join('a', 1)).toMatchObject({ code: 'RF_FORBIDDEN' });
    good.close();
  });

  it('drops a connection that stops answering heartbeats within 2x the interval', async () => {
    await using t = await startTestEdge({ heartbeatMs: 100 });
    const c = await RawClient.open(t.url);
    // Stop reading: the client's ws still answers protocol pings, but never sends PONG frames.
    const started = Date.now();
    const { code } = await c.closeEvent(2000);
    const elapsed = Date.now() - started;
    console.log(
      `heartbeat: silent connection dropped after ${elapsed} ms (interval 100 ms, bound 200 ms)`,
    );
    expect(code).toBe(1006);
    expect(elapsed).toBeLessThanOrEqual(200 + 100);
    expect(c.events()).toEqual([]);
    expect(c.frames.filter((f) => f.type === FrameType.PING).length).toBeGreaterThanOrEqual(1);
    await eventually(() => t.edge.sockets.size === 0, { timeoutMs: 1000, what: 'socket removed' });
  });

  it('survives a flood of random bytes on many connections', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const bystander = await RawClient.open(t.url);
    await bystander.join('safe', 1);
    let seed = 1;
    const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    for (let i = 0; i < 50; i++) {
      const c = await RawClient.open(t.url, i % 2 === 0);
      const bytes = new Uint8Array(1 + Math.floor(rand() * 64)).map(() => Math.floor(rand() * 256));
      c.sendRaw(bytes);
      await c.closeEvent(1000).catch(() => c.close());
    }
    await bystanderStillFine(t.url, bystander, 99);
    expect(t.edge.stats().rejectedFrames).toBeGreaterThan(0);
  });
});
