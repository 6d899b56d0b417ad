export { startDev, devHelp } from './dev.js';
export type { DevServer } from './dev.js';
