export type { Bus, BusHandler, BusSubscription } from './bus.js';
export { MemoryBus, subjectMatches } from './memory-bus.js';
