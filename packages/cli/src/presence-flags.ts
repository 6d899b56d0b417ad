import { patternsFlag, type HelpRow } from './args.js';

/** The presence flag of `roomfabric edge`, `membership`, `dev` and `cluster`. */
export const presenceFlags = { presence: { type: 'string' } } as const;

/** Help entries of {@link presenceFlags}, to align with the command's other options. */
export const presenceRows: readonly HelpRow[] = [
  [
    '--presence PATTERNS',
    'rooms whose members get $presence join/leave events, comma-separated patterns (* = any); give every edge and membership replica the same (docs/presence.md)',
  ],
];

/** `{ rooms }` for `--presence`, or undefined without it. */
export function presenceFromFlags(
  flags: Record<string, string | boolean | undefined>,
): { rooms: string[] } | undefined {
  if (flags.presence === undefined) return undefined;
  return { rooms: patternsFlag('presence', flags.presence) };
}
