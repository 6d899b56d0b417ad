/**
 * @roomfabric/bench: benchmarks of Roomfabric against Socket.IO 4.8 with its Redis adapter
 * (and a plain `ws` ceiling), each node a process of its own, on one machine in one run.
 * Run them with `npm run bench -- <scenario> [--json]`; see docs/benchmarks.md.
 */
export { fanout, type FanoutFigures, type FanoutOptions } from './scenarios/fanout.js';
export { bus, roomNodes, type BusFigures, type BusOptions } from './scenarios/bus.js';
export { raid, type RaidFigures, type RaidOptions } from './scenarios/raid.js';
export { joins, type JoinsFigures, type JoinsOptions } from './scenarios/joins.js';
export { memory, type MemoryFigures, type MemoryOptions } from './scenarios/memory.js';
export { storm, stormPlan, type StormFigures, type StormOptions } from './scenarios/storm.js';
export type { ScenarioResult, Goal, Check, CommonOptions } from './scenario.js';
export { Progress, table } from './report.js';
export { Histogram, type HistogramData } from './histogram.js';
export { RawWebSocket, type WsDriver } from './load/raw-ws.js';
export { topFunctions, type HotFunction } from './profile.js';
