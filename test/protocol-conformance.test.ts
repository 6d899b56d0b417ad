import { encode } from '@msgpack/msgpack';
import { CloseCode, ErrorCode, FrameType } from '@roomfabric/protocol';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';
import { RawClient } from './support/raw-client.js';

/** What docs/protocol.md promises a client in another language, checked on the wire. */
describe('protocol conformance', () => {
  it('every close with an RF_ reason follows an ERROR with that code: kicked, shutdown', async () => {
    const t = await startTestEdge({ policy: 'open' });
    const kicked = await RawClient.open(t.url);
    await t.edge.sockets.get(kicked.hello.socketId)!.disconnect();
    expect(await kicked.closeEvent()).toEqual({ code: CloseCode.KICKED, reason: ErrorCode.KICKED });
    expect(kicked.errors().map((e) => [e.id, e.code])).toEqual([[0, ErrorCode.KICKED]]);
    const shut = await RawClient.open(t.url);
    await t.edge.close();
    expect(await shut.closeEvent()).toEqual({
      code: CloseCode.GOING_AWAY,
      reason: ErrorCode.SERVER_SHUTDOWN,
    });
    expect(shut.errors().map((e) => e.code)).toEqual([ErrorCode.SERVER_SHUTDOWN]);
  });

  it('PONGs count against the frame allowance (they were free: a flood of them cost nothing)', async () => {
    await using t = await startTestEdge({ policy: 'open', limits: { maxFramesPerSecond: 50 } });
    const c = await RawClient.open(t.url);
    const pong = encode([FrameType.PONG]);
    c.sendRaw(new Uint8Array(Array.from({ length: 200 }, () => [...pong]).flat()));
    await eventually(() => c.closed !== undefined || c.errors().length > 0);
    expect(c.errors()[0]?.code).toBe(ErrorCode.RATE_LIMITED);
  });

  it('HELLO announces maxDepth; an ACK for an unknown id is answered with id 0', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const c = await RawClient.open(t.url);
    expect(c.hello).toMatchObject({ maxFrameDepth: 32, maxFrameBytes: 65536 });
    c.send({ type: FrameType.ACK, id: 77, data: null });
    const err = await c.next((f) => f.type === FrameType.ERROR);
    expect(err).toMatchObject({ id: 0, code: ErrorCode.ACK_UNKNOWN });
  });
});
