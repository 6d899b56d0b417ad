import { connect } from '@roomfabric/client';
import { createEdge } from '@roomfabric/edge';
import { ErrorCode } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';

/** Codes that were listed but never raised, now raised where they belong. */
describe('RF_EDGE_CLOSED and RF_FRAME_TOO_LARGE', () => {
  it('a closed edge refuses work with RF_EDGE_CLOSED', async () => {
    const edge = createEdge();
    await edge.close();
    const closed = expect.objectContaining({ code: ErrorCode.EDGE_CLOSED });
    expect(() => edge.to('r')).toThrow(closed);
    expect(() => edge.stream('r', { event: 'tick', hz: 10 })).toThrow(closed);
    await expect(edge.listen(0)).rejects.toMatchObject({ code: ErrorCode.EDGE_CLOSED });
    await expect(edge.fetchSockets()).rejects.toMatchObject({ code: ErrorCode.EDGE_CLOSED });
    await expect(edge.socketsJoin('r')).rejects.toMatchObject({ code: ErrorCode.EDGE_CLOSED });
    await expect(edge.raid('a', 'b')).rejects.toMatchObject({ code: ErrorCode.EDGE_CLOSED });
  });

  it('the SDK refuses an emit over the server maxFrameBytes at the call (the server would close with 1009)', async () => {
    await using t = await startTestEdge({ policy: 'open', limits: { maxFrameBytes: 4096 } });
    const client = connect(t.url);
    await client.join('r');
    const big = 'x'.repeat(5000);
    expect(() => client.emit('big', big)).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE }),
    );
    expect(() => client.to('r').emit('big', big)).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_TOO_LARGE }),
    );
    expect(client.emit('small', 'x'.repeat(100))).toBe(true);
    expect(client.state).toBe('connected');
    client.close();
  });
});
