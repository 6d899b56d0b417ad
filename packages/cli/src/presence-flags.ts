import { patternsFlag } from './args.js';

/** The presence flag of `roomfabric edge`, `membership` and `dev`. */
export const presenceFlags = { presence: { type: 'string' } } as const;

export const presenceHelp = `  --presence PATTERNS  rooms whose members get $presence join/leave events, comma-separated
                       patterns (* = any); give every edge and membership replica the same
                       (docs/presence.md)`;

/** `{ rooms }` for `--presence`, or undefined without it. */
export function presenceFromFlags(
  flags: Record<string, string | boolean | undefined>,
): { rooms: string[] } | undefined {
  if (flags.presence === undefined) return undefined;
  return { rooms: patternsFlag('presence', flags.presence) };
}
