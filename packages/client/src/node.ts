// Node entry point: the same client, with `ws` as its WebSocket when there is no global one.
import WebSocket from 'ws';
import { setDefaultWebSocket, type WebSocketConstructor } from './client.js';

setDefaultWebSocket(WebSocket as unknown as WebSocketConstructor);

export * from './index.js';
