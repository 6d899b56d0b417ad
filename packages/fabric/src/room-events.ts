import type { Bus } from '@roomfabric/bus';
import type { Membership } from '@roomfabric/membership';
import { BusMessageType, encodeBusMessage, Subject } from '@roomfabric/protocol';
import type { Logger } from './logger.js';

const publishing = new WeakSet<Membership>();

/**
 * Publishes the room lifecycle events of `membership` (decided by the index, atomically
 * with each change) on `rf.evt.room`. Each change runs in exactly one membership instance,
 * and an instance is wired once however many components share it, so each event is
 * published once.
 */
export function publishRoomEvents(membership: Membership, bus: Bus, logger: Logger): void {
  if (publishing.has(membership)) return;
  publishing.add(membership);
  membership.onRoomEvent((event) => {
    bus
      .publish(Subject.roomEvents, encodeBusMessage({ type: BusMessageType.ROOM_EVENT, ...event }))
      .catch((err: unknown) => logger.warn({ err, ...event }, 'could not publish a room event'));
  });
}
