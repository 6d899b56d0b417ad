import { describe, expect, it } from 'vitest';
import { eventually } from './eventually.js';

describe('eventually', () => {
  it('resolves with the time it took once the check holds', async () => {
    let n = 0;
    const ms = await eventually(() => ++n === 3, { everyMs: 5 });
    expect(n).toBe(3);
    expect(ms).toBeGreaterThanOrEqual(5);
  });

  it('names what it waited for, and the last error, when it times out', async () => {
    await expect(
      eventually(
        () => {
          throw new Error('connection refused');
        },
        { timeoutMs: 30, what: 'the edge' },
      ),
    ).rejects.toThrow(
      /timed out waiting for the edge \(30 ms\); the check last threw: Error: connection refused/,
    );
  });

  it('with soft, resolves undefined after the timeout', async () => {
    expect(await eventually(() => false, { timeoutMs: 20, soft: true })).toBeUndefined();
  });
});
