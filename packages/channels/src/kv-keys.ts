/**
 * Key layout of the channel bucket (docs/channels.md, "Where channel membership lives"):
 *
 * - `c.<channel>`        the channel: name, meta, created, incarnation id
 * - `u.<user>`           the user's subscriptions, channel -> incarnation: the ONE key the
 *                        edge reads on connect
 * - `s.<channel>.<user>` one per subscription: the reverse index, listed by prefix for
 *                        `subscribersOf` and for the cleanup of a delete
 *
 * Names and user ids become one key token each: `[A-Za-z0-9_-]+` stays as it is, anything
 * else becomes `=` plus the base64url of its UTF-8 bytes. `=` never starts a plain token,
 * so the mapping is injective and reversible, and a 200-code-point name stays under
 * 1100 characters (NATS subjects must fit its 4 KiB control line).
 */

const PLAIN = /^[A-Za-z0-9_-]+$/;

/** One KV key token for a channel name or a user id. */
export function keyToken(value: string): string {
  return PLAIN.test(value) ? value : `=${Buffer.from(value, 'utf8').toString('base64url')}`;
}

/** The inverse of {@link keyToken}. */
export function fromKeyToken(token: string): string {
  return token.startsWith('=') ? Buffer.from(token.slice(1), 'base64url').toString('utf8') : token;
}

export const channelKey = (channel: string): string => `c.${keyToken(channel)}`;
export const userKey = (user: string): string => `u.${keyToken(user)}`;
export const subscriptionKey = (channel: string, user: string): string =>
  `s.${keyToken(channel)}.${keyToken(user)}`;
/** Filter for every subscription key of `channel`. */
export const subscriptionsOf = (channel: string): string => `s.${keyToken(channel)}.*`;
/** Filter for every channel key. */
export const ALL_CHANNELS = 'c.*';

/** The last token of a key (the user of a subscription key, the channel of a channel key). */
export function lastToken(key: string): string {
  return fromKeyToken(key.slice(key.lastIndexOf('.') + 1));
}
