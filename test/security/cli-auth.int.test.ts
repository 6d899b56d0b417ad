import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, startNats, startRedis, eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

function run(args: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [bin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RF_LOG_LEVEL: 'info', ...env },
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('roomfabric edge: auth is required, secrets stay out of logs', () => {
  it('refuses to start without auth unless --insecure, and rejects contradictory flags', async () => {
    const base = ['edge', '--nats', 'nats://127.0.0.1:1', '--redis', 'redis://127.0.0.1:1'];
    const none = run(base);
    expect(await none.exited).toBe(2);
    expect(none.output()).toMatch(/refusing to start without auth/);
    const dir = mkdtempSync(join(tmpdir(), 'rf-cli-'));
    writeFileSync(join(dir, 'secret'), 'x'.repeat(40));
    const both = run([...base, '--insecure', '--jwt-secret-file', join(dir, 'secret')]);
    expect(await both.exited).toBe(2);
    expect(both.output()).toMatch(/--insecure cannot be combined/);
    const two = run([
      ...base,
      '--jwt-secret-file',
      join(dir, 'secret'),
      '--jwks-url',
      'http://127.0.0.1:1/jwks',
    ]);
    expect(await two.exited).toBe(2);
    const missing = run([...base, '--jwt-secret-file', join(dir, 'nope')]);
    expect(await missing.exited).toBe(2);
    expect(missing.output()).toMatch(/cannot read/);
  });

  it('starts with a JWT secret, and never prints passwords or tokens from URLs or the environment', async () => {
    await using nats = await startNats();
    await using redis = await startRedis();
    const port = await freePort();
    const natsUrl = nats.url.replace('nats://', 'nats://alice:natsPassw0rd@');
    const secret = 'jwt-secret-value-that-is-long-enough-123';
    const edge = run(
      [
        'edge',
        '--port',
        String(port),
        '--nats',
        natsUrl,
        '--redis',
        redis.url,
        '--node-id',
        'sec1',
      ],
      { RF_JWT_SECRET: secret },
    );
    try {
      await eventually(
        async () =>
          (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200,
        { timeoutMs: 10_000, what: 'edge ready' },
      );
      expect(edge.output()).toContain('auth    JWT');
      edge.child.kill('SIGTERM');
      expect(await edge.exited).toBe(0);
      const out = edge.output();
      expect(out).toContain('nats://alice:***@');
      expect(out).not.toContain('natsPassw0rd');
      expect(out).not.toContain(secret);
    } finally {
      edge.child.kill('SIGKILL');
    }
  });
});
