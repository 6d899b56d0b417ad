import { randomBytes } from 'node:crypto';
import type { Bus, History } from '@roomfabric/bus';
import type { MemberInfo, Membership } from '@roomfabric/membership';
import {
  assertRoomId,
  BroadcastFlag,
  BusMessageType,
  ControlOp,
  decodeBusMessage,
  encodeBusMessage,
  encodeData,
  ErrorCode,
  isErrorCode,
  isRoomfabricError,
  RoomfabricError,
  Subject,
  type BroadcastMessage,
  type RaidReport,
} from '@roomfabric/protocol';
import type { Logger } from './logger.js';

/** One raid request attempt may take this long before it is retried with the same id. */
const RAID_ATTEMPT_MS = 10_000;

export interface FabricOptions {
  bus: Bus;
  membership: Membership;
  logger: Logger;
  /** Rooms that keep history: their broadcasts are stored, then delivered (docs/history.md). */
  history?: History;
  /** Timeout of control requests to nodes and of raid steps, ms. Default 5000. */
  requestTimeoutMs?: number;
}

/** Which sockets an operation targets: members of any of `rooms` (every socket when empty), minus `except`. */
export interface Selection {
  rooms: readonly string[];
  except: readonly string[];
  exceptSocket: string | null;
}

/**
 * The cluster logic, written once: broadcasts, selections answered from the index, and
 * control requests to the nodes that hold the sockets. The edge (for cluster-wide
 * operations) and the server API (for backends without sockets) both drive it.
 */
export class Fabric {
  readonly bus: Bus;
  readonly membership: Membership;
  readonly logger: Logger;
  readonly history: History | undefined;
  readonly requestTimeoutMs: number;

  constructor(options: FabricOptions) {
    this.bus = options.bus;
    this.membership = options.membership;
    this.logger = options.logger;
    this.history = options.history;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  }

  /**
   * Publishes a broadcast once per target room subject (once on `rf.all` without rooms).
   * A room that keeps history gets it through its history instead: stored, then
   * delivered with its offset; then this resolves only once it is stored, and rejects
   * with `RF_HISTORY_UNAVAILABLE` if it could not be. Rooms without history are published
   * only once every history room has stored it: a failed store leaves them untouched
   * (`details.stored` lists the history rooms that did store it, when several were
   * targeted). Resolves with the number of bus messages published.
   */
  async broadcast(msg: BroadcastMessage): Promise<number> {
    if (msg.rooms.length === 0) {
      await this.bus.publish(Subject.all, encodeBusMessage(msg));
      return 1;
    }
    // Volatile broadcasts (cursors, positions) may be dropped anyway: never stored.
    const history = (msg.flags & BroadcastFlag.VOLATILE) === 0 ? this.history : undefined;
    const stored = history ? msg.rooms.filter((r) => history.covers(r)) : [];
    // Stored in several rooms, it has an offset in each: a client that recovers them one
    // by one could get it twice, so it carries an id to be shown once (docs/protocol.md).
    const payload = encodeBusMessage(
      stored.length > 1 && msg.id === undefined
        ? { ...msg, id: randomBytes(9).toString('base64url') }
        : msg,
    );
    const plain = stored.length === 0 ? msg.rooms : msg.rooms.filter((r) => !history!.covers(r));
    if (stored.length > 0) await this.store(history!, stored, payload);
    if (plain.length === 1) await this.bus.publish(Subject.room(plain[0]!), payload);
    else if (plain.length > 1)
      await Promise.all(plain.map((r) => this.bus.publish(Subject.room(r), payload)));
    return msg.rooms.length;
  }

  /** Appends to every history room; on a failure, says which rooms did store it. */
  private async store(history: History, rooms: string[], payload: Uint8Array): Promise<void> {
    if (rooms.length === 1) {
      await history.append(rooms[0]!, payload);
      return;
    }
    const results = await Promise.allSettled(rooms.map((r) => history.append(r, payload)));
    const failed = results.find((r) => r.status === 'rejected');
    if (!failed) return;
    const err = failed.reason as unknown;
    if (!isRoomfabricError(err)) throw err;
    throw new RoomfabricError(err.code, err.message, {
      cause: err,
      temporary: err.temporary,
      details: {
        ...err.details,
        stored: rooms.filter((_, i) => results[i]!.status === 'fulfilled'),
      },
    });
  }

  /** The members a selection targets, read from the index (each socket once). */
  async select(selection: Selection): Promise<MemberInfo[]> {
    const rooms = selection.rooms.length === 0 ? null : selection.rooms;
    const chosen = new Map<string, MemberInfo>();
    if (rooms) {
      for (const list of await Promise.all(rooms.map((r) => this.membership.members(r)))) {
        for (const m of list) chosen.set(m.socketId, m);
      }
    } else {
      for (const node of await this.membership.nodes()) {
        for (const socketId of await this.membership.socketsOf(node)) {
          chosen.set(socketId, { socketId, nodeId: node, data: null });
        }
      }
      // Socket data is only needed for fetchSockets; read it for what is left below.
    }
    if (selection.exceptSocket !== null) chosen.delete(selection.exceptSocket);
    if (selection.except.length > 0) {
      for (const list of await Promise.all(
        selection.except.map((r) => this.membership.members(r)),
      )) {
        for (const m of list) chosen.delete(m.socketId);
      }
    }
    if (!rooms) {
      const filled = await Promise.all([...chosen.keys()].map((id) => this.membership.socket(id)));
      return filled.filter((m): m is MemberInfo => m !== undefined);
    }
    return [...chosen.values()];
  }

  /** Groups members by node. */
  static byNode(members: readonly MemberInfo[]): Map<string, string[]> {
    const nodes = new Map<string, string[]>();
    for (const m of members) {
      const list = nodes.get(m.nodeId);
      if (list) list.push(m.socketId);
      else nodes.set(m.nodeId, [m.socketId]);
    }
    return nodes;
  }

  /**
   * Asks every node holding some of `members` to apply `op` to them, and waits for all
   * of them. Rejects with the first failure (the others still ran).
   */
  async control(
    members: readonly MemberInfo[],
    op: ControlOp,
    rooms: readonly string[] = [],
    event = '',
    data: unknown = null,
  ): Promise<void> {
    const encoded = op === ControlOp.EMIT ? encodeData(data) : new Uint8Array();
    const results = await Promise.allSettled(
      [...Fabric.byNode(members)].map(([node, sockets]) =>
        this.request(
          Subject.node(node),
          encodeBusMessage({
            type: BusMessageType.CONTROL,
            op,
            sockets,
            rooms: [...rooms],
            event,
            data: encoded,
          }),
        ),
      ),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Asks the membership service to run a raid (see `runRaid`); safe to retry with the same id. */
  async requestRaid(
    from: string,
    to: string,
    options: { raidId?: string; timeoutMs?: number } = {},
  ): Promise<RaidReport> {
    assertRoomId(from);
    assertRoomId(to);
    const raidId = options.raidId ?? randomBytes(9).toString('base64url');
    const request = encodeBusMessage({ type: BusMessageType.RAID_REQUEST, raidId, from, to });
    // A request handed to a replica that dies at that instant is lost; the raid id makes a
    // retry safe (the index moves once, nodes ignore commits they applied), so retry
    // temporary failures, and a missing service, until the overall timeout.
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (let attempt = 0; ; attempt++) {
      const left = deadline - Date.now();
      try {
        return (await this.request(
          Subject.raid,
          request,
          Math.max(1, Math.min(left, RAID_ATTEMPT_MS)),
        )) as RaidReport;
      } catch (err) {
        const retryable =
          isRoomfabricError(err) &&
          (err.temporary ||
            err.code === ErrorCode.NO_RESPONDERS ||
            err.code === ErrorCode.REQUEST_TIMEOUT);
        const pause = Math.min(100 * 2 ** attempt, 1000);
        if (!retryable || Date.now() + pause >= deadline) throw err;
        this.logger.warn(
          { err, raidId, attempt },
          'raid request failed; retrying with the same raid id',
        );
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
  }

  /** A request on the bus whose answer is a REPLY message; rejects with the reply's error. */
  async request(
    subject: string,
    payload: Uint8Array,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<unknown> {
    const bytes = await this.bus.request(subject, payload, { timeoutMs });
    const reply = decodeBusMessage(bytes);
    if (reply.type !== BusMessageType.REPLY) {
      throw new RoomfabricError(ErrorCode.INTERNAL, `unexpected answer on ${subject}`);
    }
    if (!reply.ok) {
      throw new RoomfabricError(
        isErrorCode(reply.code) ? reply.code : ErrorCode.INTERNAL,
        reply.message,
      );
    }
    return reply.data;
  }
}
