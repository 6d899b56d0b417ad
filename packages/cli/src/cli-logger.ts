import { logLevelFromEnv, type Logger } from '@roomfabric/fabric';
import { pino } from 'pino';

/**
 * The logger of `roomfabric` processes: pino, one JSON object per line on standard error,
 * string levels (`"level":"info"`), `time` in ms since the epoch, the pid and `bindings` on
 * every line. Level from `RF_LOG_LEVEL` (default `info`). The edge and the service add
 * `component` and `node` themselves, so pass those only for the CLI's own lines.
 */
export function cliLogger(bindings: Record<string, unknown> = {}): Logger {
  return pino(
    {
      level: logLevelFromEnv('info'),
      base: { pid: process.pid, ...bindings },
      formatters: { level: (label) => ({ level: label }) },
    },
    // Synchronous writes: nothing is lost when the process exits right after a line.
    pino.destination({ dest: 2, sync: true }),
  );
}
