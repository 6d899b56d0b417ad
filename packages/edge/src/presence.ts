/**
 * A socket's presence identity (docs/presence.md): `socket.data.user` when it is a
 * non-empty string (set from the token's `sub`, or by connect middleware), else none: the
 * socket is anonymous, a member of its rooms but not part of their presence.
 */
export function presenceUser(data: Readonly<Record<string, unknown>>): string | undefined {
  const user = data.user;
  return typeof user === 'string' && user.length > 0 ? user : undefined;
}
