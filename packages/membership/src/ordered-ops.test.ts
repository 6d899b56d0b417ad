import { describe, expect, it } from 'vitest';
import { OrderedOps } from './ordered-ops.js';

/** An operation that logs its start and ends when the test says so. */
function op(log: string[], name: string, fail = false) {
  let finish!: () => void;
  const ended = new Promise<void>((resolve) => (finish = resolve));
  return {
    fn: async () => {
      log.push(`start ${name}`);
      await ended;
      log.push(`end ${name}`);
      if (fail) throw new Error(`${name} failed`);
      return name;
    },
    finish: () => finish(),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('OrderedOps', () => {
  it('starts at once when idle, runs commuting operations on distinct keys together', async () => {
    const log: string[] = [];
    const ops = new OrderedOps();
    const a = op(log, 'a');
    const b = op(log, 'b');
    const pa = ops.run('join', ['x'], a.fn);
    // Started synchronously: nothing was in flight.
    expect(log).toEqual(['start a']);
    const pb = ops.run('join', ['y'], b.fn);
    await turn();
    expect(log).toEqual(['start a', 'start b']);
    b.finish();
    a.finish();
    expect(await Promise.all([pa, pb])).toEqual(['a', 'b']);
    expect(ops.idle).toBe(true);
  });

  it('an operation on a key in flight, or of another kind, waits for the whole group', async () => {
    const log: string[] = [];
    const ops = new OrderedOps();
    const a = op(log, 'a');
    const b = op(log, 'b');
    const c = op(log, 'c');
    const d = op(log, 'd');
    const pa = ops.run('join', ['x'], a.fn);
    const pb = ops.run('join', ['y'], b.fn);
    const pc = ops.run('join', ['x', 'z'], c.fn); // x is in flight: a new group
    const pd = ops.run(undefined, [], d.fn); // commutes with nothing
    await turn();
    expect(log).toEqual(['start a', 'start b']);
    a.finish();
    await turn();
    expect(log).toEqual(['start a', 'start b', 'end a']);
    b.finish();
    await turn();
    expect(log).toEqual(['start a', 'start b', 'end a', 'end b', 'start c']);
    c.finish();
    await turn();
    expect(log.slice(5)).toEqual(['end c', 'start d']);
    d.finish();
    expect(await Promise.all([pa, pb, pc, pd])).toEqual(['a', 'b', 'c', 'd']);
  });

  it('a failure reaches its caller only; the operations after it still run', async () => {
    const log: string[] = [];
    let idle = 0;
    const ops = new OrderedOps(() => idle++);
    const a = op(log, 'a', true);
    const b = op(log, 'b');
    const pa = ops.run(undefined, [], a.fn);
    const pb = ops.run(undefined, [], b.fn);
    const sync = ops.run(undefined, [], () => {
      throw new Error('thrown at once');
    });
    a.finish();
    await expect(pa).rejects.toThrow('a failed');
    await turn();
    expect(log).toEqual(['start a', 'end a', 'start b']);
    b.finish();
    await expect(pb).resolves.toBe('b');
    await expect(sync).rejects.toThrow('thrown at once');
    expect(ops.idle).toBe(true);
    expect(idle).toBe(1);
  });
});
