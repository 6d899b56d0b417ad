import { ErrorCode, RoomfabricError } from './errors.js';
import { DEFAULT_LIMITS } from './limits.js';
import { codePointLength } from './room.js';

/**
 * Event names the client SDK and the server-side socket use for their own lifecycle.
 * Neither side sends events with these names, so an application handler can never be
 * confused with a state change.
 */
export const RESERVED_EVENTS: ReadonlySet<string> = new Set([
  'connect',
  'connecting',
  'connected',
  'disconnect',
  'disconnected',
  'state',
  'error',
  'moved',
  // Sent by the fabric itself to presence rooms (docs/presence.md), so nobody can forge it.
  '$presence',
  'rejoined',
  // The SDK's event for a room the server took it out of (LEFT frames).
  'left',
  // The SDK's event for a change of a room's state (client.roomState).
  'room:state',
]);

/** Throws `RF_EVENT_INVALID` or `RF_EVENT_RESERVED` unless `event` may be sent. */
export function assertEventName(
  event: unknown,
  maxLength: number = DEFAULT_LIMITS.maxEventLength,
): asserts event is string {
  if (typeof event !== 'string' || event.length === 0) {
    throw new RoomfabricError(ErrorCode.EVENT_INVALID, 'an event name must be a non-empty string');
  }
  if (event.length > maxLength && codePointLength(event) > maxLength) {
    throw new RoomfabricError(
      ErrorCode.EVENT_INVALID,
      `an event name must be at most ${maxLength} characters`,
    );
  }
  if (RESERVED_EVENTS.has(event)) {
    throw new RoomfabricError(ErrorCode.EVENT_RESERVED, `the event name "${event}" is reserved`);
  }
}
