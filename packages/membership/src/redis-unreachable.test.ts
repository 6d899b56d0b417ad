import { describe, expect, it } from 'vitest';
import { RedisMembership } from './redis-membership.js';

describe('RedisMembership with no Redis answering', () => {
  it('rejects a call in bounded time, naming the URL (no password) and what to check', async () => {
    // Port 1 on loopback refuses connections: no server is involved.
    const membership = new RedisMembership({ url: 'redis://:s3cretPass@127.0.0.1:1/2' });
    try {
      const started = performance.now();
      const err = await membership.count('lobby').then(
        () => new Error('answered'),
        (e: unknown) => e as Error,
      );
      expect(performance.now() - started).toBeLessThan(3_000);
      expect(err).toMatchObject({ code: 'RF_MEMBERSHIP_UNAVAILABLE', temporary: true });
      expect(err.message).toMatch(
        /^membership count failed: cannot reach Redis at redis:\/\/127\.0\.0\.1:1\/2 \(.*ECONNREFUSED.*\): is redis-server running\? is the port right\?$/,
      );
      expect(err.message).not.toMatch(/s3cretPass|max retries/i);
    } finally {
      await membership.close();
    }
  });
});
