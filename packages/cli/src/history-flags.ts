import type { HistoryPolicy } from '@roomfabric/bus';
import { intFlag, UsageError } from './args.js';

/** The history flags, shared by `roomfabric edge` and `roomfabric dev`. */
export const historyFlags = {
  history: { type: 'string' },
  'history-max-messages': { type: 'string' },
  'history-max-age-ms': { type: 'string' },
} as const;

export const historyHelp = `History (docs/history.md; every node and server must use the same):
  --history PATTERNS         rooms that keep history, comma-separated patterns (* = any),
                             e.g. 'chat:*,doc:*'; reconnecting clients get what they missed
  --history-max-messages N   entries kept per room (default 100)
  --history-max-age-ms N     how long entries are kept, 0 = no limit (default 3600000)`;

/** The history policy the flags describe, or undefined without `--history`. */
export function historyFromFlags(
  flags: Record<string, string | boolean | undefined>,
): HistoryPolicy[] | undefined {
  const patterns = flags.history;
  if (patterns === undefined) {
    if (flags['history-max-messages'] !== undefined || flags['history-max-age-ms'] !== undefined) {
      throw new UsageError('--history-max-messages and --history-max-age-ms need --history');
    }
    return undefined;
  }
  const rooms = String(patterns)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (rooms.length === 0) throw new UsageError('--history needs at least one room pattern');
  return [
    {
      rooms,
      maxMessages: intFlag('history-max-messages', flags['history-max-messages'], 100, 1, 1e9),
      maxAgeMs: intFlag('history-max-age-ms', flags['history-max-age-ms'], 3_600_000, 0, 2 ** 47),
    },
  ];
}
