import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { routedPeerCount } from './nats-server.js';
import { startNatsCluster } from './start-nats-cluster.js';
import { sleep } from './wait-ready.js';

/** A bare NATS protocol client over TCP: enough to SUB, PUB and wait for MSGs. */
class RawNats {
  #received = '';
  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (this.#received += chunk));
  }

  static async connect(url: string): Promise<RawNats> {
    const { hostname, port } = new URL(url);
    const socket = connect({ host: hostname, port: Number(port) });
    await once(socket, 'connect');
    socket.write('CONNECT {"verbose":false,"pedantic":false}\r\n');
    return new RawNats(socket);
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async waitFor(text: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#received.includes(text)) {
      if (Date.now() > deadline) return false;
      await sleep(10);
    }
    return true;
  }

  [Symbol.dispose](): void {
    this.socket.destroy();
  }
}

/** Publishes on `pub` until `sub` gets it: interest crosses routes asynchronously. */
async function deliveredAcrossRoutes(sub: RawNats, pub: RawNats, subject: string) {
  sub.send(`SUB ${subject} 1\r\nPING\r\n`);
  expect(await sub.waitFor('PONG', 2_000)).toBe(true);
  for (let attempt = 0; attempt < 50; attempt++) {
    pub.send(`PUB ${subject} 5\r\nhello\r\n`);
    if (await sub.waitFor(`MSG ${subject} 1 5\r\nhello\r\n`, 100)) return true;
  }
  return false;
}

describe('startNatsCluster', () => {
  it('forms a cluster in which a subscriber on server 1 gets a publish made on server 3', async () => {
    await using cluster = await startNatsCluster(3);
    expect(cluster.servers.map((server) => server.name)).toEqual(['nats-1', 'nats-2', 'nats-3']);
    expect(new Set(cluster.urls).size).toBe(3);
    for (const server of cluster.servers) {
      expect(await routedPeerCount('127.0.0.1', server.monitorPort)).toBe(2);
    }
    using sub = await RawNats.connect(cluster.urls[0] as string);
    using pub = await RawNats.connect(cluster.urls[2] as string);
    expect(await deliveredAcrossRoutes(sub, pub, 'x')).toBe(true);
  });

  it('restarts a killed member on the same ports and routes it back into the mesh', async () => {
    await using cluster = await startNatsCluster(3);
    const [first, second, third] = cluster.servers as [
      (typeof cluster.servers)[0],
      (typeof cluster.servers)[0],
      (typeof cluster.servers)[0],
    ];
    await second.kill();
    expect(second.running).toBe(false);

    await second.restart();
    expect(second.url).toBe(cluster.urls[1]);
    for (const server of [first, second, third]) {
      expect(await routedPeerCount('127.0.0.1', server.monitorPort)).toBe(2);
    }
    using sub = await RawNats.connect(first.url);
    using pub = await RawNats.connect(second.url);
    expect(await deliveredAcrossRoutes(sub, pub, 'after.restart')).toBe(true);
  });
});
