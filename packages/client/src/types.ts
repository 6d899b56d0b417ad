import type { RoomfabricError } from '@roomfabric/protocol';
import type { ReconnectOptions } from './backoff.js';
import type { RoomStateChange } from './room-states.js';

export type ClientState = 'disconnected' | 'connecting' | 'connected';

/** Why the state changed: a WebSocket close code and a reason (an `RF_` code where one applies). */
export interface StateChange {
  code: number;
  reason: string;
  /**
   * The HTTP status when the server refused the WebSocket upgrade (reason
   * `RF_UPGRADE_REFUSED`). Only where the WebSocket implementation reports it (`ws` in
   * Node does; browsers do not, and show such a failure as a plain 1006).
   */
  status?: number;
}

/** What a server event handler gets besides the data. */
export interface EventMeta {
  /** The room the event came through, or null for a direct or fabric-wide event. */
  room: string | null;
  /** Present when the server waits for an answer (`socket.emitWithAck`). */
  ack?: (response?: unknown) => void;
}

/** The subset of the WebSocket API the client needs (browsers' and `ws`'s both fit). */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

export interface ClientOptions {
  /** Sent in CONNECT, seen by server middleware as `socket.handshake.auth`. A function is called on every (re)connect. */
  auth?: unknown;
  /** WebSocket implementation. Default: the global one (browsers), `ws` in Node. */
  WebSocket?: WebSocketConstructor;
  /** `false` disables automatic reconnect. Default: on, 250 ms doubling to 10 s, 50% jitter. */
  reconnect?: boolean | ReconnectOptions;
  /** Default timeout of join, leave and emitWithAck, ms. Default 10000. */
  ackTimeoutMs?: number;
  /** How long a connection attempt may take until HELLO, ms. Default 10000. */
  connectTimeoutMs?: number;
  /** Emits held while not connected; past it `emit` returns false. Default 100. */
  maxQueue?: number;
}

export type ClientEvents = {
  state: (state: ClientState, change: StateChange) => void;
  connecting: (change: StateChange) => void;
  connected: (info: { socketId: string; nodeId: string }) => void;
  disconnected: (change: StateChange) => void;
  error: (err: RoomfabricError) => void;
  /**
   * A room was joined again after a reconnect. For a room that keeps history, `recovered`
   * says whether the `missed` events replayed before the live ones are all that the client
   * missed; when false, reload the room's state some other way. Null for other rooms.
   */
  rejoined: (info: { room: string; recovered: boolean | null; missed: number }) => void;
  /**
   * A raid moved this client from one room to another (the server's `raid(from, to)`):
   * `rooms` now has `to` instead of `from`, and `to` is rejoined after a reconnect. Events
   * of `from` come before it, events of `to` after it.
   */
  moved: (info: { from: string; to: string }) => void;
  /**
   * The server took this client out of a room it had joined: its new token no longer
   * allows the room after a `refresh()` (`code` `RF_FORBIDDEN`), or application code on
   * the server made it leave (`RF_KICKED`). The room is no longer in `rooms`.
   */
  left: (info: { room: string; code: string; reason: string }) => void;
  /** A room's state changed (`client.roomState(room)`), with why. */
  'room:state': (change: RoomStateChange) => void;
};
