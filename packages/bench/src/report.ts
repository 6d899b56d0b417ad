import { cpus, totalmem } from 'node:os';

/**
 * Progress lines on stderr, so that stdout carries only the result (the table, or the JSON
 * object with `--json`). On a terminal the current step is rewritten in place.
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private last = 0;
  private line = '';

  constructor(
    private readonly scenario: string,
    private readonly quiet = false,
  ) {}

  /** Starts a step (always printed). */
  step(text: string): void {
    this.end();
    this.line = `[${this.scenario}] ${text}`;
    this.write(this.line, true);
  }

  /** Updates the current step; at most one line a second when not on a terminal. */
  update(detail: string): void {
    const now = performance.now();
    if (!this.tty && now - this.last < 1000) return;
    this.last = now;
    this.write(`${this.line} ${detail}`, false);
  }

  /** Ends the current step's line. */
  end(): void {
    if (this.tty && this.line && !this.quiet) process.stderr.write('\n');
    this.line = '';
  }

  private write(text: string, first: boolean): void {
    if (this.quiet) return;
    if (this.tty) process.stderr.write(`\r\x1b[K${text}`);
    else if (first || text !== this.line) process.stderr.write(`${text}\n`);
  }
}

/** Renders rows as an aligned text table; numbers are right-aligned. */
export function table(headers: string[], rows: Array<Array<string | number>>): string {
  const cells = [headers, ...rows.map((r) => r.map(cell))];
  const widths = headers.map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  const line = (r: string[], numeric: boolean) =>
    r
      .map((v, c) =>
        numeric && c > 0 && /^[-+\d.,x%]+/.test(v) ? v.padStart(widths[c]!) : v.padEnd(widths[c]!),
      )
      .join('  ')
      .trimEnd();
  return [
    line(cells[0]!, false),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.slice(1).map((r) => line(r, true)),
  ].join('\n');
}

function cell(v: string | number): string {
  if (typeof v === 'string') return v;
  if (!Number.isFinite(v)) return 'n/a';
  return fmt(v);
}

/** 1234567 -> "1,234,567"; 12.345 -> "12.35"; 0.1234 -> "0.123". */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  if (Math.abs(v) >= 100) return Math.round(v).toLocaleString('en-US');
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** Microseconds to milliseconds, 2 decimals. */
export const ms = (us: number): number => Math.round(us / 10) / 100;

/** What the machine is, for every JSON result and the docs. */
export function machine(): Record<string, unknown> {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
  };
}
