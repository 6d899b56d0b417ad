export type {
  Bus,
  BusHandler,
  BusHeaders,
  BusStatus,
  BusSubscription,
  PublishOptions,
  RequestOptions,
  SubscribeOptions,
} from './bus.js';
export { MemoryBus, type MemoryBusOptions } from './memory-bus.js';
export { NatsBus, type NatsBusOptions } from './nats-bus.js';
export { subjectMatches } from './subject.js';
export * from './history.js';
export { MemoryHistory } from './memory-history.js';
export { NatsHistory, type NatsHistoryOptions } from './nats-history.js';
export { createHistory } from './create-history.js';
