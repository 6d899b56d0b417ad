import type { IncomingHttpHeaders } from 'node:http';

/** What the client sent when it connected. */
export interface Handshake {
  /** The `auth` value from the client's CONNECT frame (`connect(url, { auth })`). */
  auth: unknown;
  headers: IncomingHttpHeaders;
  /** Query parameters of the upgrade request URL. */
  query: Record<string, string>;
  url: string;
  address: string;
  /** When the WebSocket was accepted, ms since the epoch. */
  time: number;
}

/** Why a connection ended. `code` is the WebSocket close code. */
export interface DisconnectReason {
  code: number;
  reason: string;
}

/** `ack(response)` answers a client's `emitWithAck`. Present only when the client asked. */
export type Ack = (response?: unknown) => void;

/** An ack callback that remembers whether it was used. */
export interface AckFn extends Ack {
  id: number;
  pending: boolean;
}

/** A handler of one client event; `ack` is defined when the client used `emitWithAck`. */
export type EventHandler = (data: unknown, ack: Ack | undefined) => void | Promise<void>;

/** `handshaking` until HELLO, `open` while connected, then `closed`. */
export type SocketState = 'handshaking' | 'open' | 'closed';
