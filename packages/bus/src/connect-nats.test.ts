import { describe, expect, it } from 'vitest';
import { connectNats } from './connect-nats.js';

// Port 1 on loopback refuses connections: no server is involved.
const DEAD = 'nats://alice:s3cretPass@127.0.0.1:1';

describe('connectNats with no server answering', () => {
  it('rejects in the time given, naming the redacted URLs, why, and what to check', async () => {
    const started = performance.now();
    const err = await connectNats({
      servers: [DEAD, 'nats://127.0.0.1:2'],
      connectTimeoutMs: 1500,
      reconnectTimeWaitMs: 200,
    }).then(
      () => new Error('connected'),
      (e: unknown) => e as Error,
    );
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(err).toMatchObject({
      code: 'RF_BUS_UNAVAILABLE',
      temporary: true,
      details: { servers: ['nats://alice:***@127.0.0.1:1', 'nats://127.0.0.1:2'] },
    });
    expect(err.message).toMatch(
      /^cannot reach NATS at nats:\/\/alice:\*\*\*@127\.0\.0\.1:1, nats:\/\/127\.0\.0\.1:2 within 1\.5 s \(.+\): is nats-server running\? is the port right\?$/,
    );
    expect(err.message).not.toContain('s3cretPass');
  });
});
