/*
 * The accept queue an edge listens with (LISTEN_BACKLOG, capped by net.core.somaxconn):
 * read back from the kernel with `ss`, whose Send-Q of a listening socket is its backlog.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { LISTEN_BACKLOG } from '@roomfabric/edge';
import { describe, expect, it } from 'vitest';
import { listenOn } from '../packages/cli/src/edge-http.js';
import { startTestEdge } from './support/edge.js';

/** The backlog of the socket listening on 127.0.0.1:port, as the kernel holds it. */
function backlogOf(port: number): number {
  const line = execFileSync('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }).trim();
  const sendQ = Number(line.split(/\s+/)[2]);
  if (!Number.isInteger(sendQ)) throw new Error(`no listening socket on ${port}: ${line}`);
  return sendQ;
}

const somaxconn = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8'));
const expected = Math.min(LISTEN_BACKLOG, somaxconn);

describe('listen backlog', () => {
  it(`edge.listen() asks for ${LISTEN_BACKLOG} (Node's default is 511)`, async () => {
    await using t = await startTestEdge();
    expect(backlogOf(t.port)).toBe(expected);
    expect(expected).toBeGreaterThan(511);
  });

  it('so does the CLI edge, dev and membership HTTP server', async () => {
    const server = createServer();
    try {
      const port = await listenOn(server, 0, '127.0.0.1');
      expect(backlogOf(port)).toBe(expected);
    } finally {
      server.close();
    }
  });
});
