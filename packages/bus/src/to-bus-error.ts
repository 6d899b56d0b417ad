import { errors } from '@nats-io/transport-node';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';

/** Maps an error thrown by nats.js to a `RoomfabricError` with a stable code. */
export function toBusError(err: unknown, details?: Record<string, unknown>): RoomfabricError {
  if (err instanceof RoomfabricError) return err;
  const options = { cause: err, details };
  if (err instanceof errors.TimeoutError) {
    return new RoomfabricError(ErrorCode.REQUEST_TIMEOUT, 'no answer in time', {
      ...options,
      temporary: true,
    });
  }
  if (
    err instanceof errors.NoRespondersError ||
    (err instanceof errors.RequestError && err.isNoResponders())
  ) {
    return new RoomfabricError(ErrorCode.NO_RESPONDERS, 'no subscriber on the subject', options);
  }
  if (err instanceof errors.InvalidArgumentError || err instanceof errors.InvalidSubjectError) {
    return new RoomfabricError(ErrorCode.INVALID_ARGUMENT, err.message, options);
  }
  if (
    err instanceof errors.ClosedConnectionError ||
    err instanceof errors.DrainingConnectionError
  ) {
    return new RoomfabricError(ErrorCode.BUS_UNAVAILABLE, 'the bus is closed', options);
  }
  // Typically "connection disconnected": a flush or request cut short by a link loss.
  return new RoomfabricError(ErrorCode.BUS_UNAVAILABLE, 'the NATS link failed', {
    ...options,
    temporary: true,
  });
}
