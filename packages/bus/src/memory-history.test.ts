import { historyContract } from './history.contract.js';
import { MemoryBus } from './memory-bus.js';
import { MemoryHistory } from './memory-history.js';

historyContract('MemoryHistory', () => {
  const bus = new MemoryBus();
  return Promise.resolve({
    bus,
    make: (policies) => new MemoryHistory(bus, policies),
    // Every node of an embedded fabric shares one instance.
    peer: (history) => history,
    wipe: (history) => {
      (history as MemoryHistory).reset();
      return Promise.resolve();
    },
    dispose: () => bus.close(),
  });
});
