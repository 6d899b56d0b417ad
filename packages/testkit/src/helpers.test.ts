import { describe, expect, it } from 'vitest';
import { cliEnv, resolveCliBin } from './cli-bin.js';
import { disposeAll } from './dispose-all.js';
import { freePort, freePorts, isAddressInUse, retryOnAddressInUse } from './free-port.js';
import { OutputBuffer } from './output-buffer.js';

describe('freePort', () => {
  it('returns distinct bindable ports', async () => {
    const ports = await freePorts(10);
    expect(new Set(ports).size).toBe(10);
    expect(await freePort()).toBeGreaterThan(0);
  });

  it('retries once, only on address-in-use failures', async () => {
    let calls = 0;
    const flaky = async () => {
      if (++calls === 1) throw new Error('nats exited: listen tcp: bind: address already in use');
      return calls;
    };
    await expect(retryOnAddressInUse(flaky)).resolves.toBe(2);
    let other = 0;
    await expect(
      retryOnAddressInUse(async () => {
        other++;
        throw new Error('exit code 1');
      }),
    ).rejects.toThrow('exit code 1');
    expect(other).toBe(1);
    expect(isAddressInUse('Error: listen EADDRINUSE: address already in use :::80')).toBe(true);
    expect(isAddressInUse('Bind for 0.0.0.0:4222 failed: port is already allocated')).toBe(true);
  });
});

describe('OutputBuffer', () => {
  it('keeps only the last `limit` characters', () => {
    const buffer = new OutputBuffer(10);
    buffer.append('0123456789');
    buffer.append('abc');
    expect(buffer.text()).toBe('3456789abc');
    buffer.append('x'.repeat(25));
    expect(buffer.text()).toBe('x'.repeat(10));
    expect(buffer.tail(4)).toBe('...xxxx');
  });
});

describe('disposeAll', () => {
  it('disposes everything in order even when one fails, then rethrows', async () => {
    const order: string[] = [];
    const item = (name: string, fail = false): AsyncDisposable => ({
      [Symbol.asyncDispose]: async () => {
        order.push(name);
        if (fail) throw new Error(`${name} failed`);
      },
    });
    await expect(disposeAll([item('c'), item('b', true), item('a')])).rejects.toThrow('b failed');
    expect(order).toEqual(['c', 'b', 'a']);
  });
});

describe('resolveCliBin', () => {
  it('finds the built CLI or says to run npm run build', () => {
    let result: string;
    try {
      result = resolveCliBin();
    } catch (err) {
      result = (err as Error).message;
    }
    expect(result).toMatch(/packages\/cli\/dist\/bin\.js$|run `npm run build`/);
  });

  it('passes RF_LOG_LEVEL through, defaulting to warn', () => {
    const saved = process.env.RF_LOG_LEVEL;
    try {
      delete process.env.RF_LOG_LEVEL;
      expect(cliEnv().RF_LOG_LEVEL).toBe('warn');
      process.env.RF_LOG_LEVEL = 'debug';
      expect(cliEnv().RF_LOG_LEVEL).toBe('debug');
    } finally {
      if (saved === undefined) delete process.env.RF_LOG_LEVEL;
      else process.env.RF_LOG_LEVEL = saved;
    }
  });
});
