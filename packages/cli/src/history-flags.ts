import { NatsHistory, type HistoryPolicy, type NatsBus } from '@roomfabric/bus';
import { helpRows, intFlag, patternsFlag, UsageError } from './args.js';

/** The history flags, shared by `roomfabric edge`, `dev` and `cluster`. */
export const historyFlags = {
  history: { type: 'string' },
  'history-max-messages': { type: 'string' },
  'history-max-age-ms': { type: 'string' },
  'history-replicas': { type: 'string' },
} as const;

export const historyHelp = `History (docs/history.md; every node and server must use the same):
${helpRows([
  [
    '--history PATTERNS',
    "rooms that keep history, comma-separated patterns (* = any), e.g. 'chat:*,doc:*'; reconnecting clients get what they missed",
  ],
  ['--history-max-messages N', 'entries kept per room (default 100)'],
  ['--history-max-age-ms N', 'how long entries are kept, 0 = no limit (default 3600000)'],
  [
    '--history-replicas N',
    'replicas of a history stream this node creates (default 1; 3 on a 3-server JetStream cluster)',
  ],
])}`;

/** What the history flags ask for: the policies and the replicas of streams this node creates. */
export interface HistorySettings {
  policies: HistoryPolicy[];
  replicas: number;
}

/** Every history flag, checked; undefined without `--history`. */
export function historySettingsFromFlags(
  flags: Record<string, string | boolean | undefined>,
): HistorySettings | undefined {
  const patterns = flags.history;
  if (patterns === undefined) {
    for (const name of ['history-max-messages', 'history-max-age-ms', 'history-replicas']) {
      if (flags[name] !== undefined) throw new UsageError(`--${name} needs --history`);
    }
    return undefined;
  }
  const rooms = patternsFlag('history', patterns);
  return {
    policies: [
      {
        rooms,
        maxMessages: intFlag('history-max-messages', flags['history-max-messages'], 100, 1, 1e9),
        maxAgeMs: intFlag('history-max-age-ms', flags['history-max-age-ms'], 3_600_000, 0, 2 ** 47),
      },
    ],
    replicas: intFlag('history-replicas', flags['history-replicas'], 1, 1, 5),
  };
}

/** The history policies the flags describe, or undefined without `--history`. */
export function historyFromFlags(
  flags: Record<string, string | boolean | undefined>,
): HistoryPolicy[] | undefined {
  return historySettingsFromFlags(flags)?.policies;
}

/** The JetStream history of a clustered node. */
export function natsHistory(settings: HistorySettings, bus: NatsBus): NatsHistory {
  return new NatsHistory(bus.nc, settings.policies, { replicas: settings.replicas });
}
