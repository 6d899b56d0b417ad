// Node entry point: the same client, with `ws` as its WebSocket when there is no global one.
import WebSocket from 'ws';
import { setDefaultWebSocket } from './client.js';
import type { WebSocketConstructor } from './types.js';

setDefaultWebSocket(WebSocket as unknown as WebSocketConstructor);

export * from './index.js';
