import { decode } from '@msgpack/msgpack';
import type { MovedMember, RaidResult } from './membership.js';
import type { Arg, Batcher } from './redis-batch.js';
import type { RedisKeys, RoomKeys } from './redis-keys.js';
import type { ScriptName } from './redis-scripts.js';
import { Changes, parseValue, settle, text, unpackData } from './redis-values.js';

/** What the raid steps need of `RedisMembership`. */
export interface RaidContext {
  keys: RedisKeys;
  batch: Batcher;
  script(name: ScriptName, keys: string[], args: Arg[], buffers?: boolean): Promise<unknown>;
  /** HKEYS of one key. */
  hkeys(key: string): Promise<string[]>;
  /** Whether presence transitions are listened to (else their data is not read). */
  reporting(): boolean;
  report(changes: Changes): void;
  raidTtlMs: number;
  /**
   * How long a room's raiding key stays once its raid is done: longer than one join's two
   * steps can be apart (they fail after the command timeout).
   */
  raidingAfterMs: number;
}

/** A raid's raiding key lives this long while it runs (if its raider dies, it just expires). */
const RAIDING_MS = 60_000;

/** A member moved by a raid, from the stored snapshot. */
interface Mover {
  socketId: string;
  /** Its member value (node, NUL, user). */
  value: string;
  nodeId: string;
}

/** Sockets per operation of a reverse-set step (each socket changes in one step anyway). */
const PER_OP = 1000;
/**
 * Reverse-set operations of one raid step in flight at once. All 50 of a 50,000-member step
 * sent together queue behind each other in Redis, and the last ones outlived the command
 * timeout on a loaded machine; a few at a time keep Redis as busy without that.
 */
const IN_FLIGHT = 4;

/** Runs `tasks`, at most `limit` at a time; then throws the first failure, if any. */
async function bounded(tasks: readonly (() => Promise<void>)[], limit = IN_FLIGHT): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (failures.length > 0) throw failures[0];
}

/**
 * Moves every member of `from` into `to` (docs/redis-keys.md, "Raids"). Rooms of one slot
 * (a shared `{tag}`) move in one script, then each mover's reverse set from -> to in one
 * step; rooms of two slots in the steps of the cross-slot protocol. Either way a raid id
 * that stopped half way (the caller failed or died) resumes from its pending result when
 * retried, and a completed one returns its result (`repeated`).
 */
export function runRaid(
  ctx: RaidContext,
  raidId: string,
  from: RoomKeys,
  to: RoomKeys,
): Promise<RaidResult> {
  return from.slot === to.slot
    ? raidInSlot(ctx, raidId, from, to)
    : raidAcross(ctx, raidId, from, to);
}

async function raidInSlot(
  ctx: RaidContext,
  raidId: string,
  from: RoomKeys,
  to: RoomKeys,
): Promise<RaidResult> {
  const report = ctx.reporting();
  const [state, packed, rows, toEmpty] = (await ctx.script(
    'raidLocal',
    [from.raid(raidId), from.members, to.members, from.users, to.users, from.raiding],
    [ctx.raidTtlMs, report ? '1' : '0', RAIDING_MS],
    true,
  )) as [number, Buffer, Buffer[], number];
  const movers = unpackMovers(packed);
  const result = { moved: movers.map(movedMember), repeated: state === 2 };
  if (state === 2) return result;
  const changes = new Changes();
  const data = new Map<string, unknown>();
  // A resumed raid (state 1): the call that ran the script decided and reported the events.
  let decided = state === 1 || movers.length === 0;
  const reportDecided = () => {
    if (decided) return;
    decided = true;
    if (Number(toEmpty) === 1) changes.occupied.push(to.room);
    for (let i = 0; i + 2 < rows.length; i += 3) {
      const user = text(rows[i]);
      const socketId = text(rows[i + 1]);
      const d = data.get(socketId);
      changes.presence.push({ room: from.room, kind: 'leave', user, socketId, data: d });
      if (Number(rows[i + 2]) === 1) {
        changes.presence.push({ room: to.room, kind: 'join', user, socketId, data: d });
      }
    }
    changes.vacated.push(from.room);
  };
  try {
    // Each mover's reverse set: from -> to in one step, so roomsOf shows one of the two.
    const want = report && rows.length > 0;
    const gone = await moveReverse(ctx, movers, 'x', from, to, want, data);
    reportDecided();
    gone.push(...(await rejoined(ctx, from, to, movers)));
    await removeGone(ctx, gone, [to, from], changes);
    await done(ctx, raidId, from);
  } finally {
    reportDecided();
    ctx.report(changes);
  }
  return result;
}

/**
 * A raid across slots: snapshot `from` (stored as a pending result), add `to` to the movers'
 * reverse sets, add them to `to`, remove exactly the snapshot from `from`, remove `from` from
 * their reverse sets, repair movers that joined `from` again or went away meanwhile, mark
 * the result done. Every step keeps each node's reverse sets a superset of the rooms that
 * list its sockets, and a reader never sees a mover in neither room; it sees it in both
 * (roomsOf from the first reverse-set step to the second; counts from the room add to the
 * room remove).
 */
async function raidAcross(
  ctx: RaidContext,
  raidId: string,
  from: RoomKeys,
  to: RoomKeys,
): Promise<RaidResult> {
  const [state, packed] = (await ctx.script(
    'raidSnapshot',
    [from.raid(raidId), from.members, from.raiding],
    [ctx.raidTtlMs, RAIDING_MS],
    true,
  )) as [number, Buffer];
  const movers = unpackMovers(packed);
  const result = { moved: movers.map(movedMember), repeated: state === 2 };
  if (state === 2) return result;
  if (movers.length === 0) {
    await done(ctx, raidId, from);
    return result;
  }
  const data = new Map<string, unknown>();
  const changes = new Changes();
  const noteOn = (room: RoomKeys) => (m: Mover, code: unknown, left: unknown) =>
    changes.note(room.room, code, m.socketId, parseValue(m.value).user, left, data.get(m.socketId));
  try {
    // The reverse sets first (and the movers' data, for the events), then the rooms.
    const lost = new Set(await moveReverse(ctx, movers, 'a', from, to, ctx.reporting(), data));
    const alive = movers.filter((m) => !lost.has(m));
    await roomStep(ctx, alive, to, 'n', noteOn(to));
    await roomStep(ctx, movers, from, 'l', noteOn(from));
    for (const m of await moveReverse(ctx, alive, 'r', from, to, false)) lost.add(m);
    for (const m of await rejoined(ctx, from, to, movers)) lost.add(m);
    await removeGone(ctx, [...lost], [to, from], changes);
    await done(ctx, raidId, from);
  } finally {
    ctx.report(changes);
  }
  return result;
}

/** Marks a raid done; `from`'s raiding key stays a little longer (see {@link RaidContext}). */
function done(ctx: RaidContext, raidId: string, from: RoomKeys): Promise<unknown> {
  return ctx.script('raidDone', [from.raid(raidId), from.raiding], [ctx.raidingAfterMs]);
}

/**
 * Bulk-adds (`n`: if not there) or bulk-removes (`l`: only entries naming the mover's node)
 * the movers in `room`, in one script call: a reader sees the room before or after the
 * whole step (measured: 50,000 movers in one call take about 60 ms of Redis time).
 */
async function roomStep(
  ctx: RaidContext,
  movers: readonly Mover[],
  room: RoomKeys,
  op: 'n' | 'l',
  onResult: (m: Mover, code: unknown, left: unknown) => void,
): Promise<void> {
  if (movers.length === 0) return;
  const args: Arg[] = [movers.length];
  for (const m of movers) args.push(m.socketId, op === 'n' ? m.value : m.nodeId);
  const [codes, lefts] = await ctx.batch.room(room, op, args, movers.length);
  const c = codes as unknown[];
  const l = lefts as unknown[];
  movers.forEach((m, j) => onResult(m, c[j], l[j]));
}

/**
 * The movers' reverse sets, one script call per node (`M` operations): `x` from -> to,
 * `a` add to, `r` remove from, `f` add from back. Resolves with the movers no longer
 * registered on their node (gone meanwhile); with `want`, fills `data` for signed-in ones.
 */
async function moveReverse(
  ctx: RaidContext,
  movers: readonly Mover[],
  mode: 'x' | 'a' | 'r' | 'f',
  from: RoomKeys,
  to: RoomKeys,
  want: boolean,
  data?: Map<string, unknown>,
): Promise<Mover[]> {
  const byNode = new Map<string, Mover[]>();
  for (const m of movers) {
    let list = byNode.get(m.nodeId);
    if (!list) byNode.set(m.nodeId, (list = []));
    list.push(m);
  }
  const gone: Mover[] = [];
  const steps: (() => Promise<void>)[] = [];
  for (const [nodeId, list] of byNode) {
    const node = ctx.keys.node(nodeId);
    for (let i = 0; i < list.length; i += PER_OP) {
      const part = list.slice(i, i + PER_OP);
      const args = ['M', mode, from.room, to.room, part.length, ...part.map((m) => m.socketId)];
      steps.push(() =>
        ctx.batch.node(node, args, 1 + part.length, want).then((reply) => {
          const flat = reply as unknown[];
          part.forEach((m, j) => {
            if (Number(flat[2 * j]) !== 1) gone.push(m);
            else if (data) {
              const d = unpackData(flat[2 * j + 1]);
              if (d !== undefined) data.set(m.socketId, d);
            }
          });
        }),
      );
    }
  }
  await bounded(steps);
  return gone;
}

/**
 * Movers that are in `from` again (they joined it while the raid ran, and a step took
 * `from` out of their reverse sets): `from` goes back in. Resolves with those gone. A join
 * whose room write comes after this read sees `from`'s raiding key and writes its reverse
 * set again itself.
 */
async function rejoined(
  ctx: RaidContext,
  from: RoomKeys,
  to: RoomKeys,
  movers: readonly Mover[],
): Promise<Mover[]> {
  const now = new Set(await ctx.hkeys(from.members));
  if (now.size === 0) return [];
  const back = movers.filter((m) => now.has(m.socketId));
  return back.length === 0 ? [] : moveReverse(ctx, back, 'f', from, to, false);
}

/** Movers that went away during a raid: out of `rooms` (entries naming their node only). */
async function removeGone(
  ctx: RaidContext,
  gone: readonly Mover[],
  rooms: readonly RoomKeys[],
  changes: Changes,
): Promise<void> {
  const unique = [...new Map(gone.map((m) => [m.socketId, m])).values()];
  if (unique.length === 0) return;
  await settle(
    rooms.map((room) =>
      roomStep(ctx, unique, room, 'l', (m, code, left) =>
        changes.note(room.room, code, m.socketId, undefined, left, undefined),
      ),
    ),
  );
}

/** The stored msgpack `[socket, value, socket, value, ...]` of a raid. */
function unpackMovers(packed: Buffer): Mover[] {
  const flat = decode(packed);
  const movers: Mover[] = [];
  if (!Array.isArray(flat)) return movers;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    const raw = flat[i + 1];
    const value = typeof raw === 'string' ? raw : text(raw);
    movers.push({ socketId: text(flat[i]), value, nodeId: parseValue(value).nodeId });
  }
  return movers;
}

const movedMember = (m: Mover): MovedMember => ({ socketId: m.socketId, nodeId: m.nodeId });
