import { parseArgs, type ParseArgsConfig } from 'node:util';

/**
 * A usage error: bin.ts prints it as one line, `roomfabric <command>: <message>. See
 * roomfabric <command> --help`, and exits with code 2.
 */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses `argv` strictly; unknown flags and stray arguments are usage errors. */
export function parseFlags(
  argv: string[],
  options: Options,
): Record<string, string | boolean | undefined> {
  const all: Options = { ...options, help: { type: 'boolean', short: 'h' } };
  try {
    const { values } = parseArgs({
      args: argv,
      options: all,
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (err) {
    throw new UsageError(parseErrorMessage(err, all));
  }
}

/** node:util's parseArgs errors, said shortly and with a "did you mean" for unknown flags. */
function parseErrorMessage(err: unknown, options: Options): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: string }).code;
  const quoted = /'([^']+)'/.exec(message)?.[1] ?? '';
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const flag = quoted.split('=')[0]!;
    const known = Object.keys(options).map((name) => `--${name}`);
    return `unknown option ${flag}${didYouMean(flag, known)}`;
  }
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const flag = quoted.split(' ')[0]!;
    return options[flag.replace(/^-+/, '')]?.type === 'boolean'
      ? `${flag} takes no value`
      : `${flag} needs a value`;
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument "${quoted}"`;
  return message;
}

/**
 * `; did you mean X?` when one of `known` is close to `given` (edit distance at most 2, or
 * a third of its length), else `''`.
 */
export function didYouMean(given: string, known: readonly string[]): string {
  if (given.replace(/^-+/, '').length < 2) return '';
  const limit = Math.max(2, Math.floor(given.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of known) {
    const d = editDistance(given.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best !== undefined && bestDistance <= limit ? `; did you mean ${best}?` : '';
}

/** Levenshtein distance (insertions, deletions, substitutions). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
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

/** One entry of a help text: the flag(s) with their argument, and what it does. */
export type HelpRow = readonly [flags: string, description: string];

/** Help lines are wrapped to this width. */
const HELP_WIDTH = 92;

/**
 * Help entries as aligned lines: every description starts at the same column (two spaces
 * past the longest flag text, at least `minColumn`), wrapped to 92 characters with
 * continuation lines at that column.
 */
export function helpRows(rows: readonly HelpRow[], minColumn = 0): string {
  const column = Math.max(minColumn, ...rows.map(([flags]) => 2 + flags.length + 2));
  const width = Math.max(HELP_WIDTH - column, 30);
  const out: string[] = [];
  for (const [flags, description] of rows) {
    const lines = wrap(description, width);
    out.push(`  ${flags.padEnd(column - 2)}${lines[0] ?? ''}`.trimEnd());
    for (const line of lines.slice(1)) out.push(`${' '.repeat(column)}${line}`);
  }
  return out.join('\n');
}

/** Words of `text` in lines of at most `width` characters (a longer word gets its own line). */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line === '' ? word : `${line} ${word}`;
    }
  }
  if (line !== '') lines.push(line);
  return lines;
}
