import { expect, it } from 'vitest';
import { busContract } from './bus.contract.js';
import { MemoryBus } from './memory-bus.js';

// Two "nodes" in one process share one MemoryBus, as Socket.IO's tests share one adapter bus.
busContract('MemoryBus', () => {
  const bus = new MemoryBus();
  return Promise.resolve({ a: bus, b: bus, dispose: () => bus.close() });
});

it('MemoryBus never delivers inside publish() and isolates a throwing handler', async () => {
  const errors: unknown[] = [];
  const bus = new MemoryBus({ onHandlerError: (err) => errors.push(err) });
  const got: string[] = [];
  await bus.subscribe('s', () => {
    throw new Error('boom');
  });
  await bus.subscribe('s', () => got.push('second'));
  void bus.publish('s', new Uint8Array());
  expect(got).toEqual([]);
  await Promise.resolve();
  await Promise.resolve();
  expect(got).toEqual(['second']);
  expect(errors).toHaveLength(1);
  await bus.publish('s', new Uint8Array());
  await expect.poll(() => got.length).toBe(2);
});
