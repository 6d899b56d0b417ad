import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Emitter } from './emitter.js';

type Events = {
  tick: (n: number) => void;
  pair: (a: string, b: { x: number }) => void;
  other: () => void;
};

/** The emitter's protected API, opened for the test (as the client's on/off/fire use it). */
class TestEmitter extends Emitter<Events> {
  on(event: string, fn: (...args: never[]) => void): void {
    this.addListener(event, fn);
  }
  off(event: string, fn: (...args: never[]) => void): void {
    this.removeListener(event, fn);
  }
  emit(event: string, ...args: unknown[]): boolean {
    return this.fire(event, ...args);
  }
  listening(event: keyof Events & string): boolean {
    return this.has(event);
  }
}

let e: TestEmitter;
beforeEach(() => {
  e = new TestEmitter();
});

describe('Emitter', () => {
  it('calls every listener of an event with the arguments, in the order they were added', () => {
    const calls: string[] = [];
    e.on('pair', (a: string, b: { x: number }) => calls.push(`first ${a} ${b.x}`));
    e.on('pair', (a: string) => calls.push(`second ${a}`));
    e.on('other', () => calls.push('other'));
    expect(e.emit('pair', 'p', { x: 1 })).toBe(true);
    expect(calls).toEqual(['first p 1', 'second p']);
  });

  it('fire() returns false when nobody listens (never had, or all removed)', () => {
    expect(e.emit('tick', 1)).toBe(false);
    const fn = vi.fn();
    e.on('tick', fn);
    e.off('tick', fn);
    expect(e.emit('tick', 1)).toBe(false);
    expect(fn).not.toHaveBeenCalled();
  });

  it('adds a function once per event: adding it again does not call it twice', () => {
    const fn = vi.fn();
    e.on('tick', fn);
    e.on('tick', fn);
    e.emit('tick', 7);
    expect(fn).toHaveBeenCalledTimes(1);
    // ...and one off() removes it.
    e.off('tick', fn);
    e.emit('tick', 8);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('the same function on two events is two listeners; off() removes only the one named', () => {
    const fn = vi.fn();
    e.on('tick', fn);
    e.on('other', fn);
    e.off('tick', fn);
    e.emit('tick', 1);
    e.emit('other');
    expect(fn).toHaveBeenCalledTimes(1);
    expect(fn).toHaveBeenCalledWith();
  });

  it('off() of a listener never added, or of an unknown event, does nothing', () => {
    const fn = vi.fn();
    e.on('tick', fn);
    e.off('tick', () => undefined);
    e.off('other', fn);
    e.emit('tick', 1);
    expect(fn).toHaveBeenCalledOnce();
  });

  it('has() says whether an event has listeners', () => {
    const fn = (): void => undefined;
    expect(e.listening('tick')).toBe(false);
    e.on('tick', fn);
    expect(e.listening('tick')).toBe(true);
    expect(e.listening('other')).toBe(false);
    e.off('tick', fn);
    expect(e.listening('tick')).toBe(false);
  });

  it('an emit calls the listeners there were when it started', () => {
    const calls: string[] = [];
    const late = (): number => calls.push('late');
    const second = (): number => calls.push('second');
    e.on('tick', () => {
      calls.push('first');
      e.off('tick', second); // removed during the emit: still called this time
      e.on('tick', late); // added during the emit: not called this time
    });
    e.on('tick', second);
    e.emit('tick', 1);
    expect(calls).toEqual(['first', 'second']);
    calls.length = 0;
    e.emit('tick', 2);
    expect(calls).toEqual(['first', 'late']);
  });

  describe('a throwing listener', () => {
    beforeEach(() => {
      vi.useFakeTimers();
    });
    afterEach(() => {
      vi.useRealTimers();
    });

    it('does not stop the others, nor the emit, and is reported on a later tick', () => {
      const calls: number[] = [];
      const boom = new Error('listener bug');
      e.on('tick', (n: number) => calls.push(n));
      e.on('tick', () => {
        throw boom;
      });
      e.on('tick', (n: number) => calls.push(n * 10));
      expect(() => e.emit('tick', 2)).not.toThrow();
      expect(e.emit('tick', 3)).toBe(true);
      expect(calls).toEqual([2, 20, 3, 30]);
      // Rethrown from a timer (an uncaught error the host reports), not from the emit.
      expect(vi.getTimerCount()).toBe(2);
      expect(() => vi.advanceTimersToNextTimer()).toThrow(boom);
    });
  });
});
