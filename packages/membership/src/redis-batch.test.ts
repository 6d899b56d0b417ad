import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Arg, Batcher } from './redis-batch.js';
import { RedisKeys, escapeKeyId, keySlot } from './redis-keys.js';

const keys = new RedisKeys('rf');

interface Sent {
  kind: 'room' | 'node';
  anchor: string;
  argv: Arg[];
}

/** A batcher whose calls are recorded and answered by `reply` (per call). */
function recording(reply: (call: Sent) => unknown = () => undefined, maxWeight?: number) {
  const sent: Sent[] = [];
  const answer = (call: Sent) => {
    sent.push(call);
    try {
      return Promise.resolve(reply(call));
    } catch (err) {
      return Promise.reject(err as Error);
    }
  };
  const batcher = new Batcher({
    sendRoom: (anchor, argv) => answer({ kind: 'room', anchor, argv }),
    sendNode: (anchor, argv) => answer({ kind: 'node', anchor, argv }),
    ...(maxWeight !== undefined && { maxWeight }),
  });
  return { batcher, sent };
}

/** Room-call replies: [op index, socket] per operation, to check who gets what. */
function echoRooms(call: Sent): unknown {
  if (call.kind === 'node') {
    return call.argv
      .slice(3)
      .filter((a) => a === 'G')
      .map((_, i) => [i]);
  }
  const rooms = Number(call.argv[0]);
  const out: unknown[] = [];
  for (let i = 1 + 3 * rooms, n = 0; i < call.argv.length; i += 4, n++)
    out.push(n, call.argv[i + 2]);
  return out;
}

/** Every key a call touches: the anchor, and the room keys of a room call's head. */
function keysOf(call: Sent): string[] {
  if (call.kind === 'node') {
    const base = String(call.argv[0]);
    // The node script builds `${base}:i:<socket>` and `${base}:r:<socket>`.
    return [call.anchor, `${base}:s`, `${base}:l`, `${base}:i:${escapeKeyId('x{y}')}`];
  }
  const rooms = Number(call.argv[0]);
  return [call.anchor, ...call.argv.slice(1, 1 + 3 * rooms).map(String)];
}

describe('Batcher', () => {
  it('sends the operations of one turn as one call per room slot and one per node', async () => {
    const { batcher, sent } = recording(echoRooms);
    const a = keys.room('a');
    const b = keys.room('b');
    const g1 = keys.room('{g}one');
    const g2 = keys.room('{g}two');
    const replies = await Promise.all([
      batcher.room(a, 'J', ['s1', 'n1']),
      batcher.room(g1, 'J', ['s1', 'n1']),
      batcher.room(a, 'L', ['s1', '']),
      batcher.room(b, 'J', ['s2', 'n1']),
      batcher.room(g2, 'J', ['s2', 'n1']),
      batcher.node(keys.node('n1'), ['G', 's1']),
      batcher.node(keys.node('n1'), ['G', 's2']),
    ]);
    // a, b and {g} (both rooms): three room slots; one node.
    expect(sent.filter((c) => c.kind === 'room')).toHaveLength(3);
    expect(sent.filter((c) => c.kind === 'node')).toHaveLength(1);
    // Each caller gets its own reply, in the order the operations were queued.
    expect(replies.slice(0, 5)).toEqual([
      [0, 's1'],
      [0, 's1'],
      [1, 's1'],
      [0, 's2'],
      [1, 's2'],
    ]);
    expect(replies.slice(5)).toEqual([[0], [1]]);
    const roomA = sent.find((c) => c.anchor === a.members)!;
    expect(roomA.argv).toEqual([
      1,
      a.members,
      a.users,
      a.raiding,
      'J',
      1,
      's1',
      'n1',
      'L',
      1,
      's1',
      '',
    ]);
    expect(batcher.calls).toBe(4);
  });

  it('sends the next turn in a new call', async () => {
    const { batcher, sent } = recording(echoRooms);
    await batcher.room(keys.room('a'), 'J', ['s1', 'n1']);
    await batcher.room(keys.room('a'), 'J', ['s2', 'n1']);
    expect(sent).toHaveLength(2);
  });

  it('splits a call past its weight, keeping the order', async () => {
    const { batcher, sent } = recording(echoRooms, 3);
    const a = keys.room('a');
    const replies = await Promise.all(
      ['s1', 's2', 's3', 's4', 's5'].map((s) => batcher.room(a, 'J', [s, 'n1'])),
    );
    expect(sent).toHaveLength(2);
    expect(replies.map((r) => r[1])).toEqual(['s1', 's2', 's3', 's4', 's5']);
  });

  it('rejects only the operations of a call that failed', async () => {
    const { batcher } = recording((call) => {
      if (call.anchor === keys.room('bad').members) throw new Error('boom');
      return echoRooms(call);
    });
    const [good, bad] = await Promise.allSettled([
      batcher.room(keys.room('good'), 'J', ['s1', 'n1']),
      batcher.room(keys.room('bad'), 'J', ['s1', 'n1']),
    ]);
    expect(good).toMatchObject({ status: 'fulfilled', value: [0, 's1'] });
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'boom' } });
  });

  it('never sends a call whose keys span two slots (random rooms, nodes and sockets)', async () => {
    const id = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.string({ unit: fc.constantFrom('{', '}', '%', ':', 'a', 'b', 'g'), maxLength: 8 }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(id, id, fc.boolean()), { minLength: 1, maxLength: 40 }),
        async (ops) => {
          const { batcher, sent } = recording(echoRooms);
          await Promise.all(
            ops.map(([name, socket, isRoom]) =>
              isRoom
                ? batcher.room(keys.room(name), 'J', [socket, 'n1'])
                : batcher.node(keys.node(name), ['G', socket]),
            ),
          );
          for (const call of sent) {
            const slots = new Set(keysOf(call).map(keySlot));
            expect(slots.size, JSON.stringify(keysOf(call))).toBe(1);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
