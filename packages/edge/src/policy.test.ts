import { ErrorCode, isRoomfabricError, type RoomfabricError } from '@roomfabric/protocol';
import { describe, expect, it, vi } from 'vitest';
import type { EdgeContext } from './context.js';
import type { AuthGrant } from './jwt-auth.js';
import { resolveEdgeLimits } from './limits.js';
import { resolvePolicy, type ClientPolicy, type ClientPolicyOption } from './options.js';
import { checkBroadcast, checkJoinLeave, ClientRules } from './policy.js';
import type { Socket } from './socket.js';

/** What the rules and the checks read of a socket: its grant and its rooms. */
function socket(grant?: Partial<AuthGrant>, rooms: string[] = []): Socket {
  const full = grant && { user: 'u', join: [], publish: [], expiresAt: undefined, ...grant };
  return { id: 's1', grant: full, rooms: new Set(rooms) } as unknown as Socket;
}

/** The part of the node's context the checks use: limits and the two rules. */
function context(rules: ClientRules, maxTargetRooms = 3): EdgeContext<Socket> {
  const ctx: Pick<EdgeContext<Socket>, 'limits' | 'mayJoin' | 'mayPublish'> = {
    limits: resolveEdgeLimits({ maxTargetRooms, maxRoomLength: 20 }),
    mayJoin: (s, room) => rules.mayJoin(s, room),
    mayPublish: (s, rooms, event) => rules.mayPublish(s, rooms, event),
  };
  return ctx as EdgeContext<Socket>;
}

const rules = (policy: ClientPolicyOption, grants = false) =>
  new ClientRules(resolvePolicy(policy), grants);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (isRoomfabricError(err)) return err.code;
    throw err;
  }
  return undefined;
}

describe('ClientRules without grants (no JWT auth)', () => {
  it('open allows, closed refuses, a partial policy refuses what it does not name', () => {
    const s = socket();
    expect(rules('open').mayJoin(s, 'a')).toBe(true);
    expect(rules('open').mayPublish(s, ['a'], 'e')).toBe(true);
    expect(rules('closed').mayJoin(s, 'a')).toBe(false);
    expect(rules('closed').mayPublish(s, ['a'], 'e')).toBe(false);
    const joinOnly = rules({ join: true });
    expect(joinOnly.mayJoin(s, 'a')).toBe(true);
    expect(joinOnly.mayPublish(s, ['a'], 'e')).toBe(false);
  });

  it('asks a policy function with the socket, the rooms and the event', () => {
    const join = vi.fn((_s: Socket, room: string) => room.startsWith('pub:'));
    const publish = vi.fn((_s: Socket, rooms: readonly string[], event: string) => {
      return event === 'chat' && rooms.length === 1;
    });
    const r = new ClientRules({ join, publish } satisfies ClientPolicy, false);
    const s = socket();
    expect(r.mayJoin(s, 'pub:1')).toBe(true);
    expect(r.mayJoin(s, 'priv:1')).toBe(false);
    expect(join).toHaveBeenLastCalledWith(s, 'priv:1');
    expect(r.mayPublish(s, ['a'], 'chat')).toBe(true);
    expect(r.mayPublish(s, ['a', 'b'], 'chat')).toBe(false);
    expect(r.mayPublish(s, ['a'], 'typing')).toBe(false);
    expect(publish).toHaveBeenLastCalledWith(s, ['a'], 'typing');
  });

  it('ignores a grant when grants do not apply', () => {
    const s = socket({ join: [], publish: [] });
    expect(rules('open', false).mayJoin(s, 'a')).toBe(true);
    expect(rules('open', false).mayPublish(s, ['a'], 'e')).toBe(true);
  });
});

describe('ClientRules with grants (JWT auth)', () => {
  it("needs the token's join patterns to match", () => {
    const r = rules('open', true);
    const s = socket({ join: ['chat:*', 'lobby'] });
    expect(r.mayJoin(s, 'chat:1')).toBe(true);
    expect(r.mayJoin(s, 'chat:')).toBe(true);
    expect(r.mayJoin(s, 'lobby')).toBe(true);
    expect(r.mayJoin(s, 'lobby2')).toBe(false);
    expect(r.mayJoin(s, 'xchat:1')).toBe(false);
  });

  it('a socket without a grant may do nothing', () => {
    const r = rules('open', true);
    expect(r.mayJoin(socket(), 'a')).toBe(false);
    expect(r.mayPublish(socket(), ['a'], 'e')).toBe(false);
  });

  it('needs every target room to match a publish pattern', () => {
    const r = rules('open', true);
    const s = socket({ join: ['*'], publish: ['chat:*'] });
    expect(r.mayPublish(s, ['chat:1', 'chat:2'], 'e')).toBe(true);
    expect(r.mayPublish(s, ['chat:1', 'news'], 'e')).toBe(false);
    // join grants do not grant publishing
    expect(r.mayPublish(s, ['news'], 'e')).toBe(false);
  });

  it('the policy must allow too: both have to', () => {
    const join = vi.fn(() => false);
    const r = new ClientRules({ join, publish: false }, true);
    const s = socket({ join: ['*'], publish: ['*'] });
    expect(r.mayJoin(s, 'a')).toBe(false);
    expect(join).toHaveBeenCalledTimes(1);
    expect(r.mayPublish(s, ['a'], 'e')).toBe(false);
    // A grant that refuses decides without asking the policy.
    join.mockClear();
    expect(r.mayJoin(socket({ join: ['b'] }), 'a')).toBe(false);
    expect(join).not.toHaveBeenCalled();
  });
});

describe('checkJoinLeave', () => {
  const open = context(rules('open'));
  const closed = context(rules('closed'));

  it('lets an allowed join and any leave of a valid room through', () => {
    expect(codeOf(() => checkJoinLeave(open, socket(), 'room', true))).toBeUndefined();
    expect(codeOf(() => checkJoinLeave(closed, socket(), 'room', false))).toBeUndefined();
  });

  it('refuses a join the rules do not allow with RF_FORBIDDEN', () => {
    expect(codeOf(() => checkJoinLeave(closed, socket(), 'room', true))).toBe(ErrorCode.FORBIDDEN);
  });

  it('refuses invalid room ids with RF_ROOM_INVALID, for joins and leaves', () => {
    for (const join of [true, false]) {
      expect(codeOf(() => checkJoinLeave(open, socket(), '', join))).toBe(ErrorCode.ROOM_INVALID);
      expect(codeOf(() => checkJoinLeave(open, socket(), 'a\u0000b', join))).toBe(
        ErrorCode.ROOM_INVALID,
      );
      expect(codeOf(() => checkJoinLeave(open, socket(), 'x'.repeat(21), join))).toBe(
        ErrorCode.ROOM_INVALID,
      );
      expect(codeOf(() => checkJoinLeave(open, socket(), 42 as unknown as string, join))).toBe(
        ErrorCode.ROOM_INVALID,
      );
    }
    // At the length limit exactly: fine.
    expect(codeOf(() => checkJoinLeave(open, socket(), 'x'.repeat(20), true))).toBeUndefined();
  });

  it('refuses reserved ($) rooms with RF_ROOM_RESERVED, even when the rules would allow', () => {
    const all = context(rules('open', true));
    const s = socket({ join: ['*'] });
    expect(codeOf(() => checkJoinLeave(all, s, '$user:bob', true))).toBe(ErrorCode.ROOM_RESERVED);
    expect(codeOf(() => checkJoinLeave(all, s, '$user:bob', false))).toBe(ErrorCode.ROOM_RESERVED);
  });
});

describe('checkBroadcast', () => {
  const open = context(rules('open'));

  it('returns the target rooms without repeats, in order', () => {
    const s = socket(undefined, ['a', 'b']);
    expect(checkBroadcast(open, s, ['b', 'a', 'b', 'a'], 'e')).toEqual(['b', 'a']);
  });

  it('needs 1 to maxTargetRooms distinct rooms, counted after removing repeats', () => {
    const s = socket(undefined, ['a', 'b', 'c', 'd']);
    let err: RoomfabricError | undefined;
    try {
      checkBroadcast(open, s, [], 'e');
    } catch (e) {
      err = e as RoomfabricError;
    }
    expect(err?.code).toBe(ErrorCode.ROOM_LIMIT);
    expect(err?.details).toEqual({ limit: 3 });
    expect(codeOf(() => checkBroadcast(open, s, ['a', 'b', 'c', 'd'], 'e'))).toBe(
      ErrorCode.ROOM_LIMIT,
    );
    expect(checkBroadcast(open, s, ['a', 'b', 'c', 'a', 'b', 'c'], 'e')).toEqual(['a', 'b', 'c']);
  });

  it('refuses rooms the socket is not in, invalid and reserved ones', () => {
    const s = socket(undefined, ['a']);
    expect(codeOf(() => checkBroadcast(open, s, ['a', 'b'], 'e'))).toBe(ErrorCode.NOT_IN_ROOM);
    expect(codeOf(() => checkBroadcast(open, s, [''], 'e'))).toBe(ErrorCode.ROOM_INVALID);
    const inReserved = socket(undefined, ['$user:me']);
    expect(codeOf(() => checkBroadcast(open, inReserved, ['$user:me'], 'e'))).toBe(
      ErrorCode.ROOM_RESERVED,
    );
  });

  it('asks the publish rules once, with the rooms without repeats and the event', () => {
    const publish = vi.fn(() => true);
    const ctx = context(new ClientRules({ join: true, publish }, false));
    const s = socket(undefined, ['a', 'b']);
    checkBroadcast(ctx, s, ['a', 'b', 'a'], 'move');
    expect(publish).toHaveBeenCalledTimes(1);
    expect(publish).toHaveBeenCalledWith(s, ['a', 'b'], 'move');
  });

  it('refuses what the rules do not allow with RF_FORBIDDEN', () => {
    const s = socket(undefined, ['a']);
    expect(codeOf(() => checkBroadcast(context(rules('closed')), s, ['a'], 'e'))).toBe(
      ErrorCode.FORBIDDEN,
    );
    const granted = context(rules('open', true));
    const g = socket({ publish: ['chat:*'] }, ['chat:1', 'news']);
    expect(checkBroadcast(granted, g, ['chat:1'], 'e')).toEqual(['chat:1']);
    expect(codeOf(() => checkBroadcast(granted, g, ['chat:1', 'news'], 'e'))).toBe(
      ErrorCode.FORBIDDEN,
    );
  });

  it('checks membership before the rules: a room it is not in is RF_NOT_IN_ROOM, not forbidden', () => {
    const publish = vi.fn(() => false);
    const ctx = context(new ClientRules({ join: true, publish }, false));
    expect(codeOf(() => checkBroadcast(ctx, socket(undefined, []), ['a'], 'e'))).toBe(
      ErrorCode.NOT_IN_ROOM,
    );
    expect(publish).not.toHaveBeenCalled();
  });
});
