import type { Socket } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { connected } from './support/clients.js';
import { startTestEdge } from './support/edge.js';

/**
 * An index whose joins and leaves wait until the test lets them finish, and that logs when
 * each starts and ends: what runs at the same time is then visible.
 */
class GatedMembership extends MemoryMembership {
  readonly log: string[] = [];
  private readonly gates: Array<() => void> = [];

  private async gated<T>(what: string, run: () => Promise<T>): Promise<T> {
    this.log.push(`start ${what}`);
    await new Promise<void>((open) => this.gates.push(open));
    const result = await run();
    this.log.push(`end ${what}`);
    return result;
  }

  /** Lets every call waiting now finish. */
  release(): number {
    const gates = this.gates.splice(0);
    for (const open of gates) open();
    return gates.length;
  }

  override join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.gated(`join ${rooms.join(',')}`, () => super.join(socketId, rooms));
  }

  override leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.gated(`leave ${rooms.join(',')}`, () => super.leave(socketId, rooms));
  }
}

/** An edge on a gated index, one client on it, and the client's socket on the server. */
async function oneClient() {
  const membership = new GatedMembership();
  const t = await startTestEdge({ policy: 'open', membership });
  let server: Socket | undefined;
  t.edge.on('connection', (socket) => (server = socket));
  const client = await connected(t.url);
  await eventually(() => server !== undefined, { timeoutMs: 2000, what: 'server socket' });
  return {
    membership,
    socket: server!,
    [Symbol.asyncDispose]: async () => {
      client.close();
      await t[Symbol.asyncDispose]();
    },
  };
}

describe("one socket's index writes", () => {
  it('joins of distinct rooms run together; a join of a room still joining, and a leave, wait', async () => {
    await using t = await oneClient();
    const { membership, socket } = t;

    const settled: string[] = [];
    const track = (what: string, p: Promise<void>) =>
      p.then(
        () => settled.push(what),
        (err: unknown) => settled.push(`${what} failed: ${String(err)}`),
      );
    const calls = [
      track('a', socket.join('a')),
      track('b', socket.join('b')),
      // Names `a`, still joining: waits for the first group.
      track('c+a', socket.join(['c', 'a'])),
      // Not a join: waits for every join before it.
      track('leave b', socket.leave('b')),
    ];

    await eventually(() => membership.log.length === 2, { timeoutMs: 2000, what: 'two joins' });
    // Both index writes started before either ended: one round trip, not two.
    expect(membership.log).toEqual(['start join a', 'start join b']);
    await new Promise((r) => setTimeout(r, 50));
    expect(membership.log).toHaveLength(2);

    expect(membership.release()).toBe(2);
    await eventually(() => membership.log.includes('start join c,a'), {
      timeoutMs: 2000,
      what: 'the third join',
    });
    expect(membership.log.slice(2)).toEqual(['end join a', 'end join b', 'start join c,a']);
    await new Promise((r) => setTimeout(r, 50));
    expect(membership.log).not.toContain('start leave b');

    expect(membership.release()).toBe(1);
    await eventually(() => membership.log.includes('start leave b'), {
      timeoutMs: 2000,
      what: 'the leave',
    });
    expect(membership.log.slice(5)).toEqual(['end join c,a', 'start leave b']);
    expect(membership.release()).toBe(1);
    await Promise.all(calls);
    expect(settled).toEqual(['a', 'b', 'c+a', 'leave b']);
    expect((await membership.roomsOf(socket.id)).sort()).toEqual(['a', 'c']);
  });

  it('a join after the joins before it finished starts a group of its own', async () => {
    await using t = await oneClient();
    const { membership, socket } = t;

    const first = socket.join('x');
    await eventually(() => membership.log.length === 1, { timeoutMs: 2000, what: 'join x' });
    membership.release();
    await first;
    // `x` is done: joining it again (a no-op locally) writes the index at once.
    const again = socket.join(['x', 'y']);
    await eventually(() => membership.log.length === 3, { timeoutMs: 2000, what: 'join x,y' });
    expect(membership.log).toEqual(['start join x', 'end join x', 'start join x,y']);
    membership.release();
    await again;
    expect((await membership.roomsOf(socket.id)).sort()).toEqual(['x', 'y']);
  });
});
