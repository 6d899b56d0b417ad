/** Log levels, lowest first. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type LogFn = (fields: Record<string, unknown>, msg: string) => void;

/**
 * The structured logger every Roomfabric component writes through. Its shape is a subset
 * of pino's, so a pino instance can be passed wherever a `Logger` is accepted.
 */
export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

export interface JsonLoggerOptions {
  level?: LogLevel;
  /** Where lines go. Default: standard error. */
  write?: (line: string) => void;
  bindings?: Record<string, unknown>;
}

/** A logger that writes one JSON object per line: `{level, time, msg, ...bindings, ...fields}`. */
export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const min = LOG_LEVELS.indexOf(options.level ?? 'info');
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  const bindings = options.bindings ?? {};
  const at =
    (level: LogLevel): LogFn =>
    (fields, msg) => {
      if (LOG_LEVELS.indexOf(level) < min) return;
      const entry: Record<string, unknown> = {
        level,
        time: Date.now(),
        ...bindings,
        ...fields,
        msg,
      };
      const err = fields.err;
      if (err instanceof Error) {
        entry.err = {
          name: err.name,
          message: err.message,
          code: (err as { code?: unknown }).code,
        };
      }
      write(`${JSON.stringify(entry)}\n`);
    };
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => createJsonLogger({ ...options, bindings: { ...bindings, ...more } }),
  };
}

/** Reads `RF_LOG_LEVEL`, falling back to `fallback` when unset or unknown. */
export function logLevelFromEnv(fallback: LogLevel): LogLevel {
  const value = process.env.RF_LOG_LEVEL;
  return (LOG_LEVELS as readonly string[]).includes(value ?? '') ? (value as LogLevel) : fallback;
}

/** One entry of a {@link RecordingLogger}. */
export interface LoggedEntry {
  level: Exclude<LogLevel, 'silent'>;
  fields: Record<string, unknown>;
  msg: string;
}

/** A {@link Logger} that keeps what it is told, for tests of code that logs. */
export interface RecordingLogger extends Logger {
  /** Every entry so far, oldest first (children append here too, with their bindings). */
  readonly entries: LoggedEntry[];
}

/**
 * A logger that records every entry in memory instead of writing it.
 *
 * @example
 * const logger = createRecordingLogger();
 * await runSomething({ logger });
 * expect(logger.entries.filter((e) => e.level === 'warn')).toEqual([]);
 */
export function createRecordingLogger(
  entries: LoggedEntry[] = [],
  bindings: Record<string, unknown> = {},
): RecordingLogger {
  const at =
    (level: LoggedEntry['level']): LogFn =>
    (fields, msg) =>
      entries.push({ level, fields: { ...bindings, ...fields }, msg });
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => createRecordingLogger(entries, { ...bindings, ...more }),
  };
}
