import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected, recorder } from './support/clients.js';

const bin = fileURLToPath(new URL('../packages/cli/dist/bin.js', import.meta.url));

function run(args: string[]): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

describe('roomfabric dev (as a process)', () => {
  it('starts, serves the demo, health and SDK bundle; a client joins, another broadcasts, the first receives', async () => {
    const dev = run(['dev', '--port', '0']);
    try {
      await eventually(() => /websocket\s+(ws:\/\/\S+)/.test(dev.output()), {
        timeoutMs: 10_000,
        what: 'dev prints its URLs',
      });
      const wsUrl = /websocket\s+(ws:\/\/\S+)/.exec(dev.output())![1]!;
      const httpUrl = /demo\s+(http:\/\/\S+)/.exec(dev.output())![1]!;
      const health = await fetch(`${httpUrl}healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
      const page = await (await fetch(httpUrl)).text();
      expect(page).toContain("from '/client.js'");
      const bundle = await fetch(`${httpUrl}client.js`);
      expect(bundle.headers.get('content-type')).toContain('javascript');
      expect((await bundle.text()).length).toBeGreaterThan(1000);

      const listener = await recorder(wsUrl, ['chat']);
      await listener.client.join('lobby');
      const speaker = await connected(wsUrl);
      await speaker.join('lobby');
      speaker.to('lobby').emit('chat', { text: 'hello from another client' });
      await eventually(() => listener.got.length === 1, {
        timeoutMs: 3000,
        what: 'broadcast received',
      });
      expect(listener.got[0]).toEqual({
        event: 'chat',
        data: { text: 'hello from another client' },
        room: 'lobby',
      });

      const closed = new Promise((resolve) => listener.client.on('connecting', resolve));
      dev.child.kill('SIGINT');
      expect(await dev.exited).toBe(0);
      expect(await closed).toEqual({ code: 1001, reason: 'RF_SERVER_SHUTDOWN' });
      listener.client.close();
      speaker.close();
    } finally {
      dev.child.kill('SIGKILL');
    }
  });

  it('prints help, and rejects bad flags with exit code 2', async () => {
    const help = run(['dev', '--help']);
    expect(await help.exited).toBe(0);
    expect(help.output()).toContain('Usage: roomfabric dev');
    const top = run(['--help']);
    expect(await top.exited).toBe(0);
    expect(top.output()).toContain('dev');
    const bad = run(['dev', '--port', 'abc']);
    expect(await bad.exited).toBe(2);
    expect(bad.output()).toContain('--port must be an integer');
    const unknown = run(['nope']);
    expect(await unknown.exited).toBe(2);
    expect(unknown.output()).toContain('unknown command');
  });

  it('fails with one clear line when the port is taken', async () => {
    const first = run(['dev', '--port', '0']);
    try {
      await eventually(() => /demo\s+http:\/\/127\.0\.0\.1:(\d+)/.test(first.output()), {
        timeoutMs: 10_000,
        what: 'first dev',
      });
      const port = /demo\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(first.output())![1]!;
      const second = run(['dev', '--port', port]);
      expect(await second.exited).toBe(1);
      expect(second.output()).toMatch(/^roomfabric: .*port/m);
    } finally {
      first.child.kill('SIGKILL');
    }
  });
});
