import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { redisPing } from './probes.js';
import { startRedis } from './start-redis.js';

/** Sends one command as a RESP array and returns the raw reply (first chunk). */
async function redisCommand(port: number, ...args: string[]): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  try {
    socket.setEncoding('utf8');
    await once(socket, 'connect');
    const parts = args.map((arg) => `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
    socket.write(`*${args.length}\r\n${parts.join('')}`);
    const [reply] = (await once(socket, 'data')) as [string];
    return reply;
  } finally {
    socket.destroy();
  }
}

describe('startRedis', () => {
  it('starts a Redis that answers PING', async () => {
    await using redis = await startRedis();
    expect(redis.url).toBe(`redis://127.0.0.1:${redis.port}`);
    expect(await redisPing('127.0.0.1', redis.port)).toBe(true);
    expect(await redisCommand(redis.port, 'PING')).toBe('+PONG\r\n');
    expect(await redisCommand(redis.port, 'CONFIG', 'GET', 'appendonly')).toContain('no');
  });

  it('comes back EMPTY on the same port after restart', async () => {
    await using redis = await startRedis();
    expect(await redisCommand(redis.port, 'SET', 'rf:key', 'value')).toBe('+OK\r\n');
    expect(await redisCommand(redis.port, 'GET', 'rf:key')).toBe('$5\r\nvalue\r\n');

    await redis.kill();
    expect(await redisPing('127.0.0.1', redis.port)).toBe(false);
    await redis.restart();
    expect(redis.running).toBe(true);
    expect(await redisCommand(redis.port, 'GET', 'rf:key')).toBe('$-1\r\n');
    expect(await redisCommand(redis.port, 'DBSIZE')).toBe(':0\r\n');
  });

  it('does not mistake another Redis on its port for itself', async () => {
    await using other = await startRedis({ name: 'other' });
    await expect(startRedis({ port: other.port })).rejects.toThrow(
      /^redis exited before it was ready[\s\S]*Address already in use/,
    );
    expect(other.running).toBe(true);
  });

  it('restart() of a running Redis stops it gracefully first', async () => {
    await using redis = await startRedis();
    const pid = redis.pid;
    await redis.restart();
    expect(redis.pid).not.toBe(pid);
    expect(redis.output()).toMatch(/exited \(code 0, signal null\)/);
  });
});
