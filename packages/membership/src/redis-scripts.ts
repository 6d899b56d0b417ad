/**
 * The Lua scripts of `RedisMembership`. Every script touches the keys of exactly one hash
 * slot, so every one of them runs on Redis Cluster: KEYS[1] is always a key of that slot
 * (it routes the call), and the other keys a script touches are either passed by the caller,
 * built by the caller for that same slot (`redis-keys.ts`), or built here from the node's
 * base (`<prefix>:{n:<node>}`), which carries the slot's hash tag.
 *
 * The room and node scripts take many operations per call (`redis-batch.ts` coalesces the
 * calls of one event-loop turn), applied in order, each with its own reply. Every operation
 * is idempotent: a decision (a socket added to or removed from a room, a room occupied or
 * vacated, a user's presence starting or ending) is made where the room's hash says so
 * (HSET/HDEL of a new/present field), so a retry decides nothing twice.
 * See `docs/redis-keys.md` for the layout and what a reader can see between the steps.
 */

import { leasesScript, nodeLeaseScript } from './redis-scripts-lease.js';
import { nodeScript, pointerDropScript } from './redis-scripts-node.js';
import { prelude, type ScriptSource } from './redis-scripts-prelude.js';
import { raidDoneScript, raidLocalScript, raidSnapshotScript } from './redis-scripts-raid.js';
import { roomScript } from './redis-scripts-room.js';

export { RoomCode } from './redis-scripts-room.js';

/** Every script by name; one module per family: room, node, lease, raid. */
const sources = {
  room: roomScript,
  node: nodeScript,
  nodeLease: nodeLeaseScript,
  leases: leasesScript,
  pointerDrop: pointerDropScript,
  raidLocal: raidLocalScript,
  raidSnapshot: raidSnapshotScript,
  raidDone: raidDoneScript,
} satisfies Record<string, ScriptSource>;

/** Names of the scripts, as registered with ioredis `defineCommand` (prefixed `rfm_`). */
export type ScriptName = keyof typeof sources;

/** A script ready for `defineCommand`: the prelude plus its body. */
export interface LuaScript {
  numberOfKeys: number;
  lua: string;
}

/** Every script, with the prelude prepended. */
export const scripts: Readonly<Record<ScriptName, LuaScript>> = Object.fromEntries(
  Object.entries(sources).map(([name, s]) => [
    name,
    { numberOfKeys: s.keys, lua: prelude + s.body },
  ]),
) as Record<ScriptName, LuaScript>;
