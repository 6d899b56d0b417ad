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

it('MemoryBus takes queue members in turn, grouping by queue name across patterns', async () => {
  const bus = new MemoryBus();
  const got: string[] = [];
  await bus.subscribe('rf.svc.x', () => got.push('exact'), { queue: 'q' });
  await bus.subscribe('rf.svc.*', () => got.push('star'), { queue: 'q' });
  await bus.subscribe('rf.>', () => got.push('other'), { queue: 'r' });
  for (let i = 0; i < 4; i++) await bus.publish('rf.svc.x', new Uint8Array());
  await bus.flush();
  expect(got.filter((g) => g !== 'other')).toEqual(['exact', 'star', 'exact', 'star']);
  expect(got.filter((g) => g === 'other')).toHaveLength(4);
  await bus.close();
});

it('MemoryBus flush waits for messages that handlers publish during delivery', async () => {
  const bus = new MemoryBus();
  const got: string[] = [];
  await bus.subscribe('one', () => void bus.publish('two', new Uint8Array()));
  await bus.subscribe('two', () => got.push('two'));
  void bus.publish('one', new Uint8Array());
  await bus.flush();
  expect(got).toEqual(['two']);
  await bus.close();
});

it('MemoryBus rejects waiting requests when closed, and answers a late reply with nothing', async () => {
  const bus = new MemoryBus();
  let reply: string | undefined;
  await bus.subscribe('svc', (_p, _s, r) => (reply = r));
  const pending = bus.request('svc', new Uint8Array(), { timeoutMs: 60_000 });
  await expect.poll(() => reply).toMatch(/^_INBOX\./);
  await bus.close();
  await expect(pending).rejects.toMatchObject({ code: 'RF_BUS_UNAVAILABLE' });
});

it('MemoryBus passes the request payload and the answer by reference', async () => {
  const bus = new MemoryBus();
  const question = new Uint8Array([1]);
  const answer = new Uint8Array([2]);
  await bus.subscribe('svc', (p, _s, r) => {
    expect(p).toBe(question);
    void bus.publish(r!, answer);
  });
  expect(await bus.request('svc', question)).toBe(answer);
  await bus.close();
});
