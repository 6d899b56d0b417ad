export type {
  Bus,
  BusHandler,
  BusStatus,
  BusSubscription,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
} from './bus.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export { NatsBus, type NatsBusOptions } from './nats-bus.js';
export { subjectMatches } from './subject.js';
