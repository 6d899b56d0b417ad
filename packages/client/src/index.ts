export { connect, RoomfabricClient } from './client.js';
export { ClientBroadcast } from './broadcast.js';
export type {
  ClientEvents,
  ClientOptions,
  ClientState,
  EventMeta,
  StateChange,
  WebSocketConstructor,
  WebSocketLike,
} from './types.js';
export type { ReconnectOptions } from './backoff.js';
export type { RoomState, RoomStateChange } from './room-states.js';
export { RoomfabricError, ErrorCode, CloseCode, isRoomfabricError } from '@roomfabric/protocol';
