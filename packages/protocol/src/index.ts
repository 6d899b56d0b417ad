export * from './errors.js';
export * from './limits.js';
export * from './room.js';
export * from './event.js';
export * from './frames.js';
export * from './envelope.js';
export * from './redact.js';
export * from './room-pattern.js';
