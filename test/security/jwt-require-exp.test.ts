import { connect } from '@roomfabric/client';
import { ErrorCode } from '@roomfabric/protocol';
import { signTestToken, TEST_JWT_SECRET } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from '../support/edge.js';

describe('tokens without exp', () => {
  it('never expire by default; requireExp refuses them (4500) and takes those with one', async () => {
    for (const requireExp of [false, true]) {
      await using t = await startTestEdge({ auth: { secret: TEST_JWT_SECRET, requireExp } });
      const forever = connect(t.url, {
        auth: { token: await signTestToken('ada') },
        reconnect: false,
      });
      const outcome = await forever.ready().then(
        () => 'connected',
        (e: { code: string }) => e.code,
      );
      expect(outcome).toBe(requireExp ? ErrorCode.UNAUTHORIZED : 'connected');
      const dated = connect(t.url, {
        auth: { token: await signTestToken('ada', { expSec: 60 }) },
      });
      await dated.ready();
      forever.close();
      dated.close();
    }
  });
});
