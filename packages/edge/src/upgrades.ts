import type { IncomingMessage, Server as HttpServer } from 'node:http';
import type { BlockList } from 'node:net';
import type { Duplex } from 'node:stream';
import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import { WebSocketServer, type WebSocket } from 'ws';
import { clientAddress, type ConnectionLimits } from './connection-limits.js';
import { othersAnswerUpgrades, refuseUpgrade } from './http-server.js';
import type { EdgeCounters } from './stats.js';

/** What the upgrade path needs of the node. */
export interface UpgradeOptions {
  /** The WebSocket endpoint's path, `/ws` by default. */
  path: string;
  maxFrameBytes: number;
  timeoutMs: number;
  proxies: BlockList;
  connectionLimits: ConnectionLimits;
  counters: EdgeCounters;
  /** True once the node closes: upgrades get 503. */
  closing(): boolean;
  /** A WebSocket is open: the handshake takes it from here. */
  accept(ws: WebSocket, req: IncomingMessage): void;
}

/**
 * From an HTTP upgrade request to an open WebSocket: the path, the connection caps
 * (checked before any WebSocket exists, so a refusal costs one HTTP answer), the time an
 * upgrade may take, and what is left in progress when the node closes.
 */
export class Upgrades {
  private readonly wss: WebSocketServer;
  /** Raw sockets of upgrade requests in progress, ended on close. */
  private readonly upgrading = new Set<Duplex>();
  private server: HttpServer | undefined;

  constructor(private readonly options: UpgradeOptions) {
    this.wss = new WebSocketServer({
      noServer: true,
      maxPayload: options.maxFrameBytes,
      perMessageDeflate: false,
      clientTracking: false,
      // The protocol uses no subprotocol: never echo one a client offers.
      handleProtocols: () => false,
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => options.accept(ws, req));
  }

  /** The server upgrades are taken from, once attached. */
  get attached(): HttpServer | undefined {
    return this.server;
  }

  /** Takes upgrade requests for the path from `server` (once; another server is refused). */
  attach(server: HttpServer): void {
    if (typeof (server as Partial<HttpServer> | null)?.on !== 'function') {
      throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, 'attach() needs a node:http server');
    }
    if (this.server && this.server !== server) {
      throw new RoomfabricError(
        ErrorCode.INVALID_ARGUMENT,
        'the edge is attached to another server',
      );
    }
    if (this.server) return;
    this.server = server;
    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.url?.split('?')[0] === this.options.path) {
        this.handle(req, socket, head);
        return;
      }
      // Another path: another 'upgrade' listener's business if there is one. With none,
      // nobody would ever answer, and the socket would sit in CLOSE-WAIT for good.
      if (!othersAnswerUpgrades(server, onUpgrade)) refuseUpgrade(socket, 404, 'Not Found');
    };
    server.on('upgrade', onUpgrade);
  }

  /**
   * Accepts one upgrade request. Refused with 503 while the node closes, 429 or 503 past
   * a connection cap; an upgrade not done within `timeoutMs` is cut off.
   */
  handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const o = this.options;
    if (o.closing()) {
      refuseUpgrade(socket, 503, 'Service Unavailable');
      return;
    }
    const address = clientAddress(req, o.proxies);
    const refused = o.connectionLimits.open(address);
    if (refused !== 0) {
      o.counters.connectionsRefused++;
      refuseUpgrade(socket, refused, refused === 429 ? 'Too Many Requests' : 'Service Unavailable');
      return;
    }
    socket.once('close', () => o.connectionLimits.close(address));
    this.upgrading.add(socket);
    const timer = setTimeout(() => socket.destroy(), o.timeoutMs).unref();
    const done = () => {
      clearTimeout(timer);
      this.upgrading.delete(socket);
    };
    socket.once('close', done);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      done();
      socket.off('close', done);
      this.wss.emit('connection', ws, req);
    });
  }

  /** Stops taking upgrades and ends those still in progress. */
  close(): void {
    this.wss.close();
    for (const socket of this.upgrading) socket.destroy();
    this.upgrading.clear();
  }
}
