export { connect, RoomfabricClient, ClientBroadcast } from './client.js';
export type {
  ClientEvents,
  ClientOptions,
  ClientState,
  EventMeta,
  StateChange,
  WebSocketConstructor,
  WebSocketLike,
} from './client.js';
export type { ReconnectOptions } from './backoff.js';
export { RoomfabricError, ErrorCode, CloseCode, isRoomfabricError } from '@roomfabric/protocol';
