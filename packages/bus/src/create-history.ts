import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type { Bus } from './bus.js';
import type { History, HistoryPolicy } from './history.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryHistory } from './memory-history.js';
import { NatsBus } from './nats-bus.js';
import { NatsHistory, type NatsHistoryOptions } from './nats-history.js';

/**
 * The history that goes with a bus: JetStream on a `NatsBus`'s connection, in-process on a
 * `MemoryBus`. Throws `RF_INVALID_ARGUMENT` for invalid policies or another kind of bus.
 */
export function createHistory(
  bus: Bus,
  policies: readonly HistoryPolicy[],
  options?: NatsHistoryOptions,
): History {
  if (bus instanceof NatsBus) return new NatsHistory(bus.nc, policies, options);
  if (bus instanceof MemoryBus) return new MemoryHistory(bus, policies);
  throw new RoomfabricError(
    ErrorCode.INVALID_ARGUMENT,
    'history needs a NatsBus or a MemoryBus; pass a History of your own for other buses',
  );
}
