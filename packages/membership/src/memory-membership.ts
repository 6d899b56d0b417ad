import { ErrorCode, RoomfabricError } from '@roomfabric/protocol';
import type {
  RoomEvent,
  MemberInfo,
  Membership,
  MovedMember,
  NodeSnapshotSocket,
  ReassertOptions,
  PresenceEvent,
  PresenceMember,
  PresenceStats,
  PurgedSocket,
  RaidResult,
} from './membership.js';
import { distinctRooms, memberInfo, positiveInteger } from './validate.js';

interface Entry {
  info: MemberInfo;
  rooms: Set<string>;
}

/** Options of {@link MemoryMembership}. */
export interface MemoryMembershipOptions {
  /** How long a raid result is kept, so a repeated raid id does not run again. Default 1 h. */
  raidResultTtlMs?: number;
}

/**
 * The in-process index of embedded mode. Several edges in one process may share one
 * instance. Each method changes its maps synchronously, so every change is atomic with
 * respect to every reader; it still answers through Promises so that it passes the same
 * contract suite as `RedisMembership`. Leases expire by `Date.now()`.
 */
export class MemoryMembership implements Membership {
  private readonly sockets = new Map<string, Entry>();
  private readonly rooms = new Map<string, Set<string>>();
  /** Room -> user -> how many of the user's sockets are in the room. */
  private readonly roomUsers = new Map<string, Map<string, number>>();
  private readonly nodeSockets = new Map<string, Set<string>>();
  /** Node -> lease deadline (ms). A lapsed node stays until it is forgotten by a purge. */
  private readonly leases = new Map<string, number>();
  private readonly raids = new Map<string, { moved: MovedMember[]; expiresAt: number }>();
  private readonly raidTtlMs: number;
  private closed = false;
  private readonly roomListeners = new Set<(event: RoomEvent) => void>();
  private readonly presenceListeners = new Set<(event: PresenceEvent) => void>();
  /** Lifecycle events of the change in progress, reported once it is complete. */
  private events: RoomEvent[] = [];
  private presenceEvents: PresenceEvent[] = [];

  constructor(options: MemoryMembershipOptions = {}) {
    this.raidTtlMs = options.raidResultTtlMs ?? 3_600_000;
  }

  addSocket(member: MemberInfo): Promise<void> {
    return this.run(() => {
      this.upsert(memberInfo(member.socketId, member.nodeId, member.user, member.data));
    });
  }

  removeSocket(socketId: string): Promise<string[]> {
    return this.run(() => this.drop(socketId));
  }

  join(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      if (!entry) {
        throw new RoomfabricError(ErrorCode.INVALID_ARGUMENT, `unknown socket ${socketId}`);
      }
      const added: string[] = [];
      for (const room of rooms) {
        if (entry.rooms.has(room)) continue;
        this.addMember(entry, room);
        added.push(room);
      }
      return added;
    });
  }

  leave(socketId: string, rooms: readonly string[]): Promise<string[]> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      if (!entry) return [];
      const left: string[] = [];
      for (const room of rooms) {
        if (!entry.rooms.delete(room)) continue;
        this.removeMember(room, entry);
        left.push(room);
      }
      return left;
    });
  }

  members(room: string): Promise<MemberInfo[]> {
    return this.run(() => {
      const out: MemberInfo[] = [];
      for (const id of this.rooms.get(room) ?? []) {
        const entry = this.sockets.get(id);
        if (entry) out.push({ ...entry.info });
      }
      return out;
    });
  }

  count(room: string): Promise<number> {
    return this.run(() => this.rooms.get(room)?.size ?? 0);
  }

  nodesOf(room: string): Promise<string[]> {
    return this.run(() => {
      const nodes = new Set<string>();
      for (const id of this.rooms.get(room) ?? []) {
        const entry = this.sockets.get(id);
        if (entry) nodes.add(entry.info.nodeId);
      }
      return [...nodes];
    });
  }

  presence(room: string): Promise<PresenceMember[]> {
    return this.run(() => {
      const out: PresenceMember[] = [];
      for (const id of this.rooms.get(room) ?? []) {
        const info = this.sockets.get(id)?.info;
        if (info?.user !== undefined) {
          out.push({ socketId: id, nodeId: info.nodeId, user: info.user, data: info.data });
        }
      }
      return out;
    });
  }

  presenceStats(room: string): Promise<PresenceStats> {
    return this.run(() => ({
      sockets: this.rooms.get(room)?.size ?? 0,
      users: this.roomUsers.get(room)?.size ?? 0,
    }));
  }

  roomsOf(socketId: string): Promise<string[]> {
    return this.run(() => [...(this.sockets.get(socketId)?.rooms ?? [])]);
  }

  socket(socketId: string): Promise<MemberInfo | undefined> {
    return this.run(() => {
      const entry = this.sockets.get(socketId);
      return entry ? { ...entry.info } : undefined;
    });
  }

  socketsOf(nodeId: string): Promise<string[]> {
    return this.run(() => [...(this.nodeSockets.get(nodeId) ?? [])]);
  }

  /** Nodes with a live lease or with sockets in the index. */
  nodes(): Promise<string[]> {
    return this.run(() => this.liveNodes());
  }

  /** Sockets in the index, and nodes as {@link nodes} counts them. */
  totals(): Promise<{ sockets: number; nodes: number }> {
    return this.run(() => ({ sockets: this.sockets.size, nodes: this.liveNodes().length }));
  }

  renewLease(nodeId: string, ttlMs: number): Promise<boolean> {
    return this.run(() => {
      positiveInteger('ttlMs', ttlMs);
      const now = Date.now();
      const alive = (this.leases.get(nodeId) ?? 0) > now;
      this.leases.set(nodeId, now + ttlMs);
      return alive;
    });
  }

  /** A node that still has sockets stays known, lapsed, so that a purge removes them. */
  dropLease(nodeId: string): Promise<void> {
    return this.run(() => {
      if (this.nodeSockets.has(nodeId)) this.leases.set(nodeId, 0);
      else this.leases.delete(nodeId);
    });
  }

  expiredNodes(): Promise<string[]> {
    return this.run(() => {
      const now = Date.now();
      return [...this.leases].filter(([, deadline]) => deadline <= now).map(([node]) => node);
    });
  }

  purgeNode(nodeId: string, batch = 500): Promise<PurgedSocket[]> {
    return this.run(() => {
      positiveInteger('batch', batch);
      if ((this.leases.get(nodeId) ?? 0) > Date.now()) return [];
      const purged: PurgedSocket[] = [];
      for (const socketId of this.nodeSockets.get(nodeId) ?? []) {
        if (purged.length === batch) break;
        purged.push({ socketId, rooms: this.drop(socketId) });
      }
      if (!this.nodeSockets.has(nodeId)) this.leases.delete(nodeId);
      return purged;
    });
  }

  reassert(
    nodeId: string,
    sockets: readonly NodeSnapshotSocket[],
    options: ReassertOptions = {},
  ): Promise<void> {
    return this.run(() => {
      const listed = new Map(sockets.map((s) => [s.socketId, new Set(s.rooms)]));
      if (!options.only) {
        for (const id of [...(this.nodeSockets.get(nodeId) ?? [])]) {
          if (!listed.has(id)) this.drop(id);
        }
      }
      for (const { socketId, room } of options.scrub ?? []) {
        const entry = this.sockets.get(socketId);
        if (entry?.info.nodeId !== nodeId || listed.get(socketId)?.has(room)) continue;
        if (entry.rooms.delete(room)) this.removeMember(room, entry);
      }
      for (const s of sockets) {
        const entry = this.upsert(memberInfo(s.socketId, nodeId, s.user, s.data));
        const wanted = new Set(s.rooms);
        for (const room of [...entry.rooms]) {
          if (wanted.has(room)) continue;
          entry.rooms.delete(room);
          this.removeMember(room, entry);
        }
        for (const room of wanted) if (!entry.rooms.has(room)) this.addMember(entry, room);
      }
    });
  }

  /** Rejects with `RF_INVALID_ARGUMENT` when `from` and `to` are the same room. */
  raid(raidId: string, from: string, to: string): Promise<RaidResult> {
    return this.run(() => {
      distinctRooms(from, to);
      const now = Date.now();
      for (const [id, r] of this.raids) if (r.expiresAt <= now) this.raids.delete(id);
      const earlier = this.raids.get(raidId);
      if (earlier) return { moved: earlier.moved.map((m) => ({ ...m })), repeated: true };
      const moved: MovedMember[] = [];
      for (const socketId of [...(this.rooms.get(from) ?? [])]) {
        const entry = this.sockets.get(socketId);
        if (!entry) continue;
        entry.rooms.delete(from);
        this.removeMember(from, entry);
        if (!entry.rooms.has(to)) this.addMember(entry, to);
        moved.push({ socketId, nodeId: entry.info.nodeId });
      }
      this.raids.set(raidId, { moved, expiresAt: now + this.raidTtlMs });
      return { moved: moved.map((m) => ({ ...m })), repeated: false };
    });
  }

  onRoomEvent(listener: (event: RoomEvent) => void): () => void {
    this.roomListeners.add(listener);
    return () => this.roomListeners.delete(listener);
  }

  onPresence(listener: (event: PresenceEvent) => void): () => void {
    this.presenceListeners.add(listener);
    return () => this.presenceListeners.delete(listener);
  }

  close(): Promise<void> {
    this.closed = true;
    this.sockets.clear();
    this.rooms.clear();
    this.roomUsers.clear();
    this.nodeSockets.clear();
    this.leases.clear();
    this.raids.clear();
    return Promise.resolve();
  }

  private liveNodes(): string[] {
    const now = Date.now();
    const nodes = [...this.nodeSockets.keys()];
    for (const [node, deadline] of this.leases) {
      if (deadline > now && !this.nodeSockets.has(node)) nodes.push(node);
    }
    return nodes;
  }

  /**
   * Registers a socket, or updates its info: moving it to another node's set, and its
   * presence in its rooms to its new user when that changed.
   */
  private upsert(info: MemberInfo): Entry {
    let entry = this.sockets.get(info.socketId);
    if (entry) {
      if (entry.info.nodeId !== info.nodeId) this.unlinkNode(entry.info.nodeId, info.socketId);
      const before = entry.info;
      entry.info = info;
      if (before.user !== info.user) {
        for (const room of entry.rooms) {
          if (before.user !== undefined) this.userOut(room, before.user, before);
          if (info.user !== undefined) this.userIn(room, info);
        }
      }
    } else {
      this.sockets.set(info.socketId, (entry = { info, rooms: new Set() }));
    }
    let onNode = this.nodeSockets.get(info.nodeId);
    if (!onNode) this.nodeSockets.set(info.nodeId, (onNode = new Set()));
    onNode.add(info.socketId);
    return entry;
  }

  /** Removes a socket from every room and its node; returns the rooms it left. */
  private drop(socketId: string): string[] {
    const entry = this.sockets.get(socketId);
    if (!entry) return [];
    this.sockets.delete(socketId);
    this.unlinkNode(entry.info.nodeId, socketId);
    const left = [...entry.rooms];
    for (const room of left) this.removeMember(room, entry);
    return left;
  }

  private unlinkNode(nodeId: string, socketId: string): void {
    const onNode = this.nodeSockets.get(nodeId);
    if (!onNode) return;
    onNode.delete(socketId);
    if (onNode.size === 0) this.nodeSockets.delete(nodeId);
  }

  private addMember(entry: Entry, room: string): void {
    entry.rooms.add(room);
    let members = this.rooms.get(room);
    if (!members) {
      this.rooms.set(room, (members = new Set()));
      this.events.push({ room, kind: 'occupied' });
    }
    if (members.has(entry.info.socketId)) return;
    members.add(entry.info.socketId);
    if (entry.info.user !== undefined) this.userIn(room, entry.info);
  }

  private removeMember(room: string, entry: Entry): void {
    const members = this.rooms.get(room);
    if (!members?.delete(entry.info.socketId)) return;
    if (entry.info.user !== undefined) this.userOut(room, entry.info.user, entry.info);
    if (members.size === 0) {
      this.rooms.delete(room);
      this.events.push({ room, kind: 'vacated' });
    }
  }

  /** One more socket of `info.user` in `room`; the first is a presence `join`. */
  private userIn(room: string, info: MemberInfo): void {
    const user = info.user!;
    let users = this.roomUsers.get(room);
    if (!users) this.roomUsers.set(room, (users = new Map()));
    const count = (users.get(user) ?? 0) + 1;
    users.set(user, count);
    if (count === 1) this.presenceEvents.push(presenceEvent(room, 'join', user, info));
  }

  /** One socket fewer of `user` in `room`; the last is a presence `leave`. */
  private userOut(room: string, user: string, info: MemberInfo): void {
    const users = this.roomUsers.get(room);
    const count = (users?.get(user) ?? 0) - 1;
    if (!users || count < 0) return;
    if (count > 0) {
      users.set(user, count);
      return;
    }
    users.delete(user);
    if (users.size === 0) this.roomUsers.delete(room);
    this.presenceEvents.push(presenceEvent(room, 'leave', user, info));
  }

  private run<T>(fn: () => T): Promise<T> {
    if (this.closed) {
      return Promise.reject(
        new RoomfabricError(ErrorCode.MEMBERSHIP_UNAVAILABLE, 'the membership index is closed'),
      );
    }
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(err);
    } finally {
      // Like RedisMembership: rooms occupied, then presence transitions, then rooms vacated.
      const events = this.events;
      const presence = this.presenceEvents;
      this.events = [];
      this.presenceEvents = [];
      for (const event of events) {
        if (event.kind === 'occupied') for (const listener of this.roomListeners) listener(event);
      }
      for (const event of presence) for (const listener of this.presenceListeners) listener(event);
      for (const event of events) {
        if (event.kind === 'vacated') for (const listener of this.roomListeners) listener(event);
      }
    }
  }
}

function presenceEvent(
  room: string,
  kind: PresenceEvent['kind'],
  user: string,
  info: MemberInfo,
): PresenceEvent {
  return { room, kind, user, socketId: info.socketId, data: info.data };
}
