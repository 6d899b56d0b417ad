import type { Ack, Edge, Socket } from '@roomfabric/edge';
import { isReservedRoom, isRoomfabricError, roomIdProblem } from '@roomfabric/protocol';

/** What the demo's `members` event answers: one entry per member, from the global index. */
export interface DemoMember {
  id: string;
  nodeId: string;
  name: string;
}

const MAX_NAME = 32;

/**
 * The application side of the browser demo, registered on an edge (`roomfabric dev`, and
 * `roomfabric edge --demo` in a cluster). People copy demo code, so it grants nothing the
 * client could not do with its own frames:
 * - connect middleware keeps a display name in `socket.data.name`, so the index (and
 *   every node) knows it: with a token, the token's (`rf.info.name`, else its `sub`);
 *   without one, the handshake's `auth.name`;
 * - `members` (room) acks with the room's members across the cluster: `{ id, nodeId, name }[]`,
 *   for a room the socket is in (not a reserved one);
 * - `raid` ({ from, to }) moves every member of `from`, on every node, into `to`: `from`
 *   must be a room the socket is in and may publish to (moving people is speaking to
 *   them), `to` a room it may join itself (else it could read a room its grants deny, and
 *   then move that room's members anywhere); reserved rooms (`$user:...`) are refused.
 * Failures are acked as `{ error: code, message }` so the page can show them.
 */
export function installDemo(edge: Edge): void {
  edge.use((socket, next) => {
    socket.data.name = displayName(socket);
    next();
  });
  edge.on('connection', (socket) => {
    socket.on('members', (room, ack) => answer(ack, () => members(edge, socket, room)));
    socket.on('raid', (data, ack) => answer(ack, () => raid(edge, socket, data)));
  });
}

function displayName(socket: Socket): string {
  const auth = socket.handshake.auth as { name?: unknown } | null;
  const data = socket.data as { name?: unknown; user?: unknown; info?: unknown };
  const info = data.info as { name?: unknown } | undefined;
  // A signed-in user is who the token says, never what the client claims.
  const candidates =
    typeof data.user === 'string' ? [info?.name, data.user] : [auth?.name, data.name];
  for (const candidate of candidates) {
    if (typeof candidate !== 'string') continue;
    // Printable characters only; the page renders names as text, never as HTML.
    const name = candidate.replace(/\p{C}/gu, '').trim().slice(0, MAX_NAME);
    if (name) return name;
  }
  return `guest-${socket.id.slice(0, 4)}`;
}

async function members(edge: Edge, socket: Socket, room: unknown): Promise<DemoMember[]> {
  const checked = ownRoom(socket, room);
  const sockets = await edge.in(checked).fetchSockets();
  return sockets
    .map((s) => ({
      id: s.id,
      nodeId: s.nodeId,
      name: String((s.data as { name?: unknown } | undefined)?.name ?? s.id.slice(0, 6)),
    }))
    .sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
}

async function raid(
  edge: Edge,
  socket: Socket,
  data: unknown,
): Promise<{ moved: number; nodes: number; totalMs: number }> {
  const { from, to } = (data ?? {}) as { from?: unknown; to?: unknown };
  const source = ownRoom(socket, from);
  const problem = roomIdProblem(to);
  if (problem !== undefined || typeof to !== 'string') {
    throw new DemoError('RF_ROOM_INVALID', problem ?? 'invalid room');
  }
  if (isReservedRoom(to)) throw new DemoError('RF_ROOM_RESERVED', 'reserved room');
  if (to === source) throw new DemoError('RF_INVALID_ARGUMENT', 'raid into the same room');
  if (!socket.mayPublish(source, 'raid')) {
    throw new DemoError('RF_FORBIDDEN', `not allowed to move the members of ${source}`);
  }
  if (!socket.mayJoin(to)) throw new DemoError('RF_FORBIDDEN', `not allowed to join ${to}`);
  const report = await edge.raid(source, to);
  return { moved: report.moved, nodes: report.nodes, totalMs: Math.round(report.totalMs) };
}

function ownRoom(socket: Socket, room: unknown): string {
  if (typeof room === 'string' && isReservedRoom(room)) {
    throw new DemoError('RF_ROOM_RESERVED', 'reserved room');
  }
  if (typeof room !== 'string' || !socket.rooms.has(room)) {
    throw new DemoError('RF_NOT_IN_ROOM', 'only for a room you are in');
  }
  return room;
}

class DemoError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function answer(ack: Ack | undefined, run: () => Promise<unknown>): Promise<void> {
  try {
    const result = await run();
    ack?.(result);
  } catch (err) {
    const code = err instanceof DemoError || isRoomfabricError(err) ? err.code : 'RF_DEMO_FAILED';
    ack?.({ error: code, message: err instanceof Error ? err.message : String(err) });
  }
}
