import { encode } from '@msgpack/msgpack';
import { connect } from '@roomfabric/client';
import type { Socket } from '@roomfabric/edge';
import { CloseCode, ErrorCode, FrameType, PROTOCOL_VERSION } from '@roomfabric/protocol';
import { signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from '../support/edge.js';
import { RawClient } from '../support/raw-client.js';

/** `depth` arrays around 1: depth 1 is `[1]`. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** The bytes of `depth` nested arrays, for depths msgpack's encoder refuses (> 100). */
function nestedBytes(depth: number): Uint8Array {
  const bytes = new Uint8Array(depth + 1).fill(0x91);
  bytes[depth] = 0x01;
  return bytes;
}

/** An EMIT frame `[4, event, data, id, rooms, flags]` whose data is raw msgpack bytes. */
function emitWithRawData(data: Uint8Array, rooms: string[] | null, id = 0): Uint8Array {
  const head = encode(FrameType.EMIT);
  const rest = encode([id, rooms, 0]).subarray(1); // the array's items, without its header
  return new Uint8Array([0x96, ...head, ...encode('ev'), ...data, ...rest]);
}

describe('nesting depth (a frame nesting 100 arrays used to kill the edge)', () => {
  it('refuses a deep EMIT to a room with RF_FRAME_TOO_DEEP and close 1007; the node serves on', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const bystander = await RawClient.open(t.url);
    await bystander.join('r', 1);
    for (const depth of [100, 101, 10_000]) {
      const attacker = await RawClient.open(t.url);
      await attacker.join('r', 1);
      attacker.sendRaw(emitWithRawData(nestedBytes(depth), ['r']));
      const closed = await attacker.closeEvent();
      expect(closed.code).toBe(CloseCode.INVALID_PAYLOAD);
      expect(attacker.errors().map((e) => e.code)).toEqual([ErrorCode.FRAME_TOO_DEEP]);
    }
    // To the server's handler as well.
    const attacker = await RawClient.open(t.url);
    attacker.sendRaw(emitWithRawData(nestedBytes(100), null, 7));
    expect((await attacker.closeEvent()).code).toBe(CloseCode.INVALID_PAYLOAD);
    // The node still delivers, and data up to the limit goes through intact.
    const sender = await RawClient.open(t.url);
    await sender.join('r', 1);
    const deepest = nested(30); // inside [4, 'ev', data, ...]: 1 + 1 + 30 = 32 levels
    sender.send({
      type: FrameType.EMIT,
      event: 'ok',
      data: deepest,
      id: 0,
      rooms: ['r'],
      flags: 0,
    });
    const got = await bystander.next((f) => f.type === FrameType.EVENT && f.event === 'ok');
    expect(got).toMatchObject({ data: deepest });
    expect(bystander.closed).toBeUndefined();
    expect(bystander.errors()).toEqual([]);
  });

  it('refuses deep values in CONNECT auth and in an ACK too', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const raw = await RawClient.open(t.url, false);
    raw.sendValue([FrameType.CONNECT, PROTOCOL_VERSION, nested(40)]);
    expect((await raw.closeEvent()).code).toBe(CloseCode.INVALID_PAYLOAD);
    expect(raw.errors()[0]?.code).toBe(ErrorCode.FRAME_TOO_DEEP);
    const other = await RawClient.open(t.url);
    other.sendValue([FrameType.ACK, 5, nested(40)]);
    expect((await other.closeEvent()).code).toBe(CloseCode.INVALID_PAYLOAD);
  });

  it('a token whose rf.info nests too deep is refused for good (it was retried for ever)', async () => {
    await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET } });
    const token = await signTestToken('ada', { rf: { info: nested(120) } });
    const client = connect(t.url, {
      auth: { token },
      reconnect: { maxAttempts: 2, minDelayMs: 10 },
    });
    const err = await client.ready().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: ErrorCode.TOKEN_INFO_TOO_LARGE });
    expect(client.state).toBe('disconnected');
    client.close();
  });

  it('socket.data that msgpack cannot encode refuses the connection with RF_INTERNAL, not a retry loop of RF_MEMBERSHIP_UNAVAILABLE', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const errors: Error[] = [];
    t.edge.on('error', (e) => errors.push(e));
    t.edge.use((socket, next) => {
      socket.data.callback = () => 1; // a function: msgpack has no type for it
      next();
    });
    const raw = await RawClient.open(t.url, false);
    raw.send({ type: FrameType.CONNECT, version: PROTOCOL_VERSION, auth: null });
    expect((await raw.closeEvent()).code).toBe(CloseCode.INTERNAL_ERROR);
    expect(raw.errors().map((e) => e.code)).toEqual([ErrorCode.INTERNAL]);
    expect(errors[0]).toMatchObject({ code: ErrorCode.INVALID_ARGUMENT });
    expect(t.edge.sockets.size).toBe(0);
  });

  it('application code gets RF_INVALID_ARGUMENT for data it cannot send, never the encoder error', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const opened = new Promise<Socket>((resolve) => t.edge.on('connection', resolve));
    const client = connect(t.url);
    await client.ready();
    const socket = await opened;
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [cyclic, () => 1, Symbol('s'), 10n ** 30n]) {
      expect(() => socket.emit('x', bad)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
      expect(() => t.edge.to('r').emit('x', bad)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
      await expect(socket.emitWithAck('x', bad)).rejects.toMatchObject({
        code: ErrorCode.INVALID_ARGUMENT,
      });
    }
    client.close();
  });
});
