import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MemoryBus } from '@roomfabric/bus';
import { connect, type RoomfabricClient } from '@roomfabric/client';
import { createEdge, type Edge, type Socket } from '@roomfabric/edge';
import { MemoryMembership } from '@roomfabric/membership';
import { isRoomfabricError } from '@roomfabric/protocol';
import { createServer, MemoryChannelStore } from '@roomfabric/server';
import { eventually } from '@roomfabric/testkit';
import { describe, expect, it } from 'vitest';
import { startTestEdge } from './support/edge.js';

const cyclic: Record<string, unknown> = {};
cyclic.self = cyclic;

/** Values no public method expects where it takes a room, an event, options or a callback. */
const BAD: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['0', 0],
  ['-1', -1],
  ['NaN', NaN],
  ['1.5', 1.5],
  ['empty string', ''],
  ['10 KB string', 'x'.repeat(10_000)],
  ['object', {}],
  ['array', []],
  ['array of numbers', [1, 2]],
  ['array with null', [null]],
  ['function', () => 1],
  ['symbol', Symbol('s')],
  ['bigint', 10n ** 30n],
  ['cyclic object', cyclic],
];

type Outcome = 'returned' | 'resolved' | `code ${string}` | `CRASH ${string}`;

/** Calls `fn` and says how it ended: a value, a RoomfabricError, or anything else (a crash). */
async function outcome(fn: () => unknown): Promise<Outcome> {
  let result: unknown;
  try {
    result = fn();
  } catch (err) {
    return isRoomfabricError(err) ? `code ${err.code}` : `CRASH ${explain(err)}`;
  }
  if (!(result instanceof Promise)) return 'returned';
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve('CRASH hung for 3 s'), 3000);
  });
  const settled = result.then(
    (): Outcome => 'resolved',
    (err: unknown): Outcome =>
      isRoomfabricError(err) ? `code ${err.code}` : `CRASH ${explain(err)}`,
  );
  const out = await Promise.race([settled, hung]);
  clearTimeout(timer);
  return out;
}

function explain(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/**
 * Methods the packages' sources mark `private` or `@internal`: not part of the API, so
 * not swept (they are reachable from JavaScript, but documented as not for callers).
 */
function hiddenNames(): Set<string> {
  const names = new Set<string>();
  const root = fileURLToPath(new URL('../packages/', import.meta.url));
  const modifiers = '(?:(?:public|readonly|static|async|override)\\s+)*';
  const internal = new RegExp(
    `/\\*\\*(?:(?!\\*/)[\\s\\S])*@internal(?:(?!\\*/)[\\s\\S])*\\*/\\s*${modifiers}([A-Za-z_$][\\w$]*)\\s*[(<]`,
    'g',
  );
  const hidden =
    /\b(?:private|protected)\s+(?:(?:readonly|static|async|override)\s+)*([A-Za-z_$][\w$]*)\s*[(<=]/g;
  for (const pkg of ['edge', 'client', 'server']) {
    const dir = join(root, pkg, 'src');
    for (const file of readdirSync(dir, { recursive: true }) as string[]) {
      if (!file.endsWith('.ts') || file.endsWith('.test.ts')) continue;
      const text = readFileSync(join(dir, file), 'utf8');
      for (const m of text.matchAll(internal)) names.add(m[1]!);
      for (const m of text.matchAll(hidden)) names.add(m[1]!);
    }
  }
  return names;
}

const HIDDEN = hiddenNames();

/** Every public method an instance shows (its class chain up to `stop`), getters excluded. */
function methodsOf(target: object, stop: object = Object.prototype): string[] {
  const names = new Set<string>();
  for (let p = Object.getPrototypeOf(target); p && p !== stop; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      const d = Object.getOwnPropertyDescriptor(p, name)!;
      if (name === 'constructor' || typeof d.value !== 'function' || HIDDEN.has(name)) continue;
      names.add(name);
    }
  }
  return [...names];
}

/**
 * Calls every method of `target` with each bad value in each of its first three
 * positions; returns the calls that crashed (threw or rejected with anything but a
 * RoomfabricError, or hung).
 */
async function sweep(
  label: string,
  target: object,
  skip: readonly string[],
  stop?: object,
  intact: () => boolean = () => true,
): Promise<{ crashes: string[]; calls: number }> {
  const crashes: string[] = [];
  let calls = 0;
  for (const name of methodsOf(target, stop)) {
    if (skip.includes(name)) continue;
    const method = (target as Record<string, (...args: unknown[]) => unknown>)[name]!;
    for (let at = 0; at < 3; at++) {
      for (const [kind, value] of BAD) {
        const args: unknown[] = [];
        args[at] = value;
        calls++;
        const out = await outcome(() => method.apply(target, args));
        if (out.startsWith('CRASH')) crashes.push(`${label}.${name}(arg ${at}: ${kind}) -> ${out}`);
        if (!intact()) {
          crashes.push(`${label}.${name}(arg ${at}: ${kind}) -> ${out}, and broke the connection`);
          return { crashes, calls };
        }
      }
    }
  }
  return { crashes, calls };
}

describe('every public method, called with wrong arguments', () => {
  it('answers with a RoomfabricError (or accepts the value), never a TypeError, a hang or a crash', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const sockets: Socket[] = [];
    t.edge.on('connection', (s) => sockets.push(s));
    const client: RoomfabricClient = connect(t.url);
    await client.join('safe');
    await eventually(() => sockets.length === 1);
    const socket = sockets[0]!;
    const server = await createServer({
      bus: t.edge.bus,
      membership: t.edge.membership,
      channels: new MemoryChannelStore(),
    });
    const spare = createEdge({ policy: 'open' });
    const sweeps: Array<() => ReturnType<typeof sweep>> = [
      // Lifecycle methods are swept on spares below; the EventEmitter's own are Node's.
      () =>
        sweep(
          'edge',
          t.edge,
          ['close', 'listen', 'attach', 'handleUpgrade', 'handleHttp', 'use', 'disconnectSockets'],
          Object.getPrototypeOf(Object.getPrototypeOf(t.edge)),
        ),
      () => sweep('socket', socket, ['disconnect']),
      () => sweep('edge.to(r)', t.edge.to('safe'), ['disconnectSockets']),
      () => sweep('client', client, ['close'], undefined, () => client.state === 'connected'),
      () => sweep('client.to(r)', client.to('safe'), []),
      () => sweep('server', server, ['close', 'disconnectSockets']),
      () => sweep('server.channels', server.channels, []),
      () => sweep('stream', t.edge.stream('ticks', { event: 'tick', hz: 10 }), ['close']),
      () =>
        sweep(
          'spare edge',
          spare,
          ['close', 'handleUpgrade', 'handleHttp'],
          Object.getPrototypeOf(Object.getPrototypeOf(spare)),
        ),
    ];
    // A middleware that never calls next() is a bug no argument check can see: only the
    // argument's type is checked here.
    for (const [, value] of BAD) {
      if (typeof value !== 'function') {
        expect(() => t.edge.use(value as never)).toThrow(
          expect.objectContaining({ code: 'RF_INVALID_ARGUMENT' }),
        );
      }
    }
    const results = [];
    for (const run of sweeps) results.push(await run());
    await spare.close();
    const crashes = results.flatMap((r) => r.crashes);
    const calls = results.reduce((n, r) => n + r.calls, 0);
    console.log(`${calls} calls with wrong arguments, ${crashes.length} crashes`);
    expect(crashes).toEqual([]);
    // Everything still works.
    const other = connect(t.url);
    await other.join('safe');
    const got: unknown[] = [];
    client.on('after', (d) => got.push(d));
    other.to('safe').emit('after', 1);
    await eventually(() => got.length === 1);
    expect(socket.connected).toBe(true);
    other.close();
    client.close();
    await server.close();
  }, 120_000);

  it('Socket.IO names do what Socket.IO does: socket.send and client.send emit "message"', async () => {
    await using t = await startTestEdge({ policy: 'open' });
    const sockets: Socket[] = [];
    t.edge.on('connection', (s) => sockets.push(s));
    const client = connect(t.url);
    await client.ready();
    await eventually(() => sockets.length === 1);
    const toServer: unknown[] = [];
    sockets[0]!.on('message', (d) => {
      toServer.push(d);
    });
    const toClient: unknown[] = [];
    client.on('message', (d) => toClient.push(d));
    expect(sockets[0]!.send('hi client')).toBe(true); // used to crash the edge
    expect(client.send('hi server')).toBe(true); // used to close the connection with 1002
    await eventually(() => toServer.length === 1 && toClient.length === 1);
    expect([toServer, toClient]).toEqual([['hi server'], ['hi client']]);
    expect(client.state).toBe('connected');
    client.close();
  });

  it('listen() refuses a port that is not one, instead of listening on a pipe named after it', async () => {
    const edge: Edge = createEdge();
    for (const port of ['3000x', -1, 70_000, 1.5, {}]) {
      await expect(edge.listen(port as number)).rejects.toMatchObject({
        code: 'RF_INVALID_ARGUMENT',
      });
    }
    await edge.close();
    const bus = new MemoryBus();
    await bus.close();
    await new MemoryMembership().close();
  });
});
