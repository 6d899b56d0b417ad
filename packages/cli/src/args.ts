import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage error: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; unknown flags and stray arguments are usage errors. */
export function parseFlags(
  argv: string[],
  options: Options,
): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

/** Reads an integer flag in a range, or the default. */
export function intFlag(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(
      `--${name} must be an integer from ${min} to ${max}, got ${String(value)}`,
    );
  }
  return n;
}

/** A comma-separated list of room patterns (`--history 'chat:*,doc:*'`); at least one. */
export function patternsFlag(name: string, value: string | boolean): string[] {
  const patterns = String(value)
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p.length > 0);
  if (patterns.length === 0) throw new UsageError(`--${name} needs at least one room pattern`);
  return patterns;
}
