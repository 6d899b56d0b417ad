import { ErrorCode, RoomfabricError } from './errors.js';
import { pack } from './pack.js';

/**
 * Encodes event data (or `socket.data`) as msgpack, the form the fabric carries it in.
 * Throws `RF_INVALID_ARGUMENT` when it cannot be encoded (nested more than 100 levels, a
 * cycle, a value msgpack has no type for such as a function or a BigInt out of range)
 * instead of the encoder's own error, so that callers fail with a stable code and
 * nothing is half-sent.
 */
export function encodeData(data: unknown, what = 'event data'): Uint8Array {
  try {
    return pack(data);
  } catch (cause) {
    const why = cause instanceof Error ? cause.message : String(cause);
    throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `${what} cannot be encoded: ${why}`, {
      cause,
    });
  }
}

/**
 * Checks an optional timeout option: a positive number of ms that `setTimeout` can hold
 * (at most 2^31 - 1). Throws `RF_INVALID_ARGUMENT`.
 */
export function checkTimeoutOption(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !(value > 0) || value > 0x7fffffff) {
    throw new RoomfabricError(
      ErrorCode.INVALID_ARGUMENT,
      `${name} must be a number of ms from 1 to 2147483647, got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
  return value;
}
