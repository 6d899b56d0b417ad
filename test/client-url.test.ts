import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect, type StateChange } from '@roomfabric/client';
import { ErrorCode } from '@roomfabric/protocol';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';

describe('the SDK and a wrong URL (it showed nothing for 10 s, then retried for ever)', () => {
  it('refuses a URL that is not ws://, wss://, http:// or https:// at connect()', () => {
    for (const url of [
      '127.0.0.1:3000',
      'localhost:3000/ws',
      'ftp://host/ws',
      '',
      'ws//host',
      42,
    ]) {
      expect(() => connect(url as string)).toThrow(
        expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
      );
    }
    expect(() => connect([])).toThrow(
      expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }),
    );
  });

  it('takes http(s):// as ws(s)://', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const client = connect(`http://127.0.0.1:${t.port}/ws`);
    await client.ready();
    client.close();
  });

  it('a wrong path: the 404 shows at once in `error` and `state`, and is not retried', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const started = Date.now();
    const client = connect(`ws://127.0.0.1:${t.port}/`, { reconnect: { minDelayMs: 10 } });
    const states: Array<[string, StateChange]> = [];
    const errors: Array<{ code: string; details?: Record<string, unknown> }> = [];
    client.on('state', (s, change) => states.push([s, change]));
    client.on('error', (e) => errors.push(e));
    const joined = client.join('lobby').then(
      () => 'joined',
      (e: { code: string }) => e.code,
    );
    await expect(client.ready()).rejects.toMatchObject({ code: ErrorCode.UPGRADE_REFUSED });
    expect(Date.now() - started).toBeLessThan(2000);
    expect(await joined).toBe(ErrorCode.UPGRADE_REFUSED);
    expect(errors.map((e) => [e.code, e.details?.status])).toEqual([
      [ErrorCode.UPGRADE_REFUSED, 404],
    ]);
    expect(states).toEqual([
      ['disconnected', { code: 1006, reason: ErrorCode.UPGRADE_REFUSED, status: 404 }],
    ]);
  });

  it('a 503 (a proxy while edges restart) is retried with backoff, and says so each time', async () => {
    let refusals = 0;
    const proxy = createServer((_req, res) => res.writeHead(503).end());
    proxy.on('upgrade', (_req, socket) => {
      refusals++;
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const { port } = proxy.address() as AddressInfo;
    const client = connect(`ws://127.0.0.1:${port}/ws`, {
      reconnect: { minDelayMs: 10, maxDelayMs: 20, maxAttempts: 3 },
    });
    const seen: unknown[] = [];
    client.on('error', (e) => seen.push(e.details?.status));
    // After the last attempt it gives up, naming the last cause.
    await expect(client.ready()).rejects.toMatchObject({
      code: ErrorCode.UPGRADE_REFUSED,
      temporary: true,
    });
    expect(refusals).toBe(4); // the first attempt and three retries
    expect(seen).toEqual([503, 503, 503, 503]);
    await new Promise<void>((resolve) => proxy.close(() => resolve()));
  });
});
