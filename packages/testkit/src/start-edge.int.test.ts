import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cliEnv, resolveCliBin } from './cli-bin.js';
import { startEdge } from './start-edge.js';
import { startNats } from './start-nats.js';
import { startRedis } from './start-redis.js';

/** `roomfabric dev --port 0` (another roomfabric process, node id "dev"); its port. */
async function startDev(): Promise<{ port: number; [Symbol.asyncDispose](): Promise<void> }> {
  const child = spawn(process.execPath, [resolveCliBin(), 'dev', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: cliEnv(),
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  let match: RegExpExecArray | null;
  while (!(match = /health\s+http:\/\/127\.0\.0\.1:(\d+)\/healthz/.exec(out))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`roomfabric dev did not start:\n${out}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    port: Number(match[1]),
    async [Symbol.asyncDispose]() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('startEdge', () => {
  it('refuses a port answered by another roomfabric node, naming the port and that node', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    await using dev = await startDev();
    const started = Date.now();
    // Our edge dies of EADDRINUSE, but first "dev" answers /readyz 200 on its port.
    await expect(
      startEdge({ nats: nats.url, redis: redis.url, nodeId: 'n1', port: dev.port }),
    ).rejects.toThrow(new RegExp(`port ${dev.port} .*node "dev", not n1`));
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('is ready when the node that answers is the one it started', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    await using edge = await startEdge({ nats: nats.url, redis: redis.url, nodeId: 'n7' });
    const health = (await (await fetch(`${edge.httpUrl}/healthz`)).json()) as { node: string };
    expect(health.node).toBe('n7');
    expect(edge.running).toBe(true);
  });
});
