import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { serveRequests, sendEvent } from '../child.js';

/*
 * The peer: one Socket.IO 4.8 node with @socket.io/redis-adapter 8.3, WebSocket transport
 * only, no compression (as the edge). A client names its rooms in the query (`rooms=a,b`)
 * and the server joins them on connection. Every message the node's Redis subscriber gets
 * on the adapter's broadcast channels is counted: that is what the bus scenario compares.
 * A client may also join with an acknowledged `join` event (what a Socket.IO app must do to
 * put a reconnected client back in its rooms); `stats` lists the node's local rooms.
 *
 *   node sio-server.js REDIS_URL
 */

const redisUrl = process.argv[2]!;
const pub = new Redis(redisUrl);
const sub = pub.duplicate();
let fromRedis = 0;
sub.on('pmessageBuffer', () => fromRedis++);

const http = createServer();
const io = new Server(http, {
  transports: ['websocket'],
  perMessageDeflate: false,
  serveClient: false,
  adapter: createAdapter(pub, sub),
});
io.on('connection', (socket) => {
  const rooms = socket.handshake.query.rooms;
  if (typeof rooms === 'string' && rooms !== '') void socket.join(rooms.split(','));
  // The counterpart of a Roomfabric JOIN frame: an acknowledged join.
  socket.on('join', (room: unknown, ack?: (ok: boolean) => void) => {
    if (typeof room === 'string') void socket.join(room);
    ack?.(true);
  });
});

await sub.ping(); // the adapter's psubscribe went first: broadcasts now reach this node
http.listen(0, '127.0.0.1', () => {
  sendEvent('ready', { port: (http.address() as AddressInfo).port });
});

/**
 * The rooms of this node (no index exists: each node knows only its own sockets): members per
 * room, and how many sockets are in 0, 1, 2... rooms (besides the room of their own id).
 */
function localRooms(): { roomSizes: Record<string, number>; socketsByRooms: number[] } {
  const { rooms, sids } = io.of('/').adapter;
  const roomSizes: Record<string, number> = {};
  for (const [room, members] of rooms) if (!sids.has(room)) roomSizes[room] = members.size;
  const socketsByRooms: number[] = [];
  for (const joined of sids.values()) {
    const n = joined.size - 1;
    socketsByRooms[n] = (socketsByRooms[n] ?? 0) + 1;
  }
  return { roomSizes, socketsByRooms: Array.from(socketsByRooms, (v) => v ?? 0) };
}

serveRequests({
  stats: () => ({ fromRedis, sockets: io.engine.clientsCount, ...localRooms() }),
});
