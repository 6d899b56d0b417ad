import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { liveChildCount } from './child-registry.js';
import { dockerAvailable } from './docker-available.js';
import { startNats } from './start-nats.js';

/** Connects over plain TCP and returns the server's first line (NATS greets with INFO). */
async function natsGreeting(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  try {
    socket.setEncoding('utf8');
    const [chunk] = (await once(socket, 'data')) as [string];
    return chunk;
  } finally {
    socket.destroy();
  }
}

const dockerUp = await dockerAvailable();

describe('startNats', () => {
  it('starts a server that accepts TCP connections on its port', async () => {
    await using nats = await startNats();
    expect(nats.url).toBe(`nats://127.0.0.1:${nats.port}`);
    expect(nats.running).toBe(true);
    expect(nats.pid).toBeTypeOf('number');
    expect(await natsGreeting(nats.port)).toMatch(/^INFO \{/);
    expect(nats.output()).toContain('Server is ready');
  });

  it('restarts on the same port after kill -9', async () => {
    await using nats = await startNats({ jetstream: true });
    const { port, url } = nats;
    const firstPid = nats.pid;
    await nats.kill();
    expect(nats.running).toBe(false);
    expect(nats.pid).toBeUndefined();
    await expect(natsGreeting(port)).rejects.toThrow(/ECONNREFUSED/);

    await nats.restart();
    expect(nats.running).toBe(true);
    expect(nats.pid).not.toBe(firstPid);
    expect(nats.port).toBe(port);
    expect(nats.url).toBe(url);
    expect(await natsGreeting(port)).toMatch(/^INFO \{.*"jetstream":true/);
  });

  it('stops gracefully and removes its JetStream temp dir on dispose', async () => {
    const nats = await startNats({ jetstream: true });
    const storeDir = /-sd (\S+)/.exec(nats.output())?.[1];
    expect(storeDir).toBeDefined();
    expect(existsSync(storeDir as string)).toBe(true);
    await nats.stop();
    expect(nats.running).toBe(false);
    // nats-server shuts down cleanly on SIGTERM (it exits 1 when doing so), no SIGKILL needed.
    expect(nats.output()).toContain('Server Exiting');
    expect(nats.output()).toMatch(/exited \(code \d+, signal null\)/);
    await nats[Symbol.asyncDispose]();
    expect(existsSync(storeDir as string)).toBe(false);
  });

  it('fails fast, quoting the output, when the server exits before it is ready', async () => {
    const before = liveChildCount();
    const started = Date.now();
    const error = await startNats({ args: ['--no-such-flag'] }).then(
      () => undefined,
      (err: unknown) => err as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error?.message).toMatch(/^nats exited before it was ready \(exit code \d+\)/);
    expect(error?.message).toContain('flag provided but not defined: -no-such-flag');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(liveChildCount()).toBe(before);
  });

  it('does not mistake another server on its port for itself', async () => {
    await using other = await startNats({ name: 'other' });
    await expect(startNats({ port: other.port })).rejects.toThrow(
      /^nats exited before it was ready[\s\S]*address already in use/,
    );
    expect(other.running).toBe(true);
  });

  it.skipIf(dockerUp)('throws a one-line error when nats-server is not on PATH', async () => {
    const emptyDir = await mkdtemp(join(tmpdir(), 'rf-testkit-path-'));
    const path = process.env.PATH;
    process.env.PATH = emptyDir;
    try {
      await expect(startNats()).rejects.toThrow(
        /^nats-server not found on PATH and no Docker engine answered: install nats-server \(apt-get install nats-server, or https:\/\/docs\.nats\.io\) or start Docker$/,
      );
    } finally {
      process.env.PATH = path;
      await rm(emptyDir, { recursive: true });
    }
  });
  if (dockerUp) {
    console.log(
      'skipping the missing-binary test: a Docker engine answered, so startNats would use it',
    );
  }
});
