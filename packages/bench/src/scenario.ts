import type { Progress } from './report.js';

/** A goal from the issue, with the measured value and whether it is met. */
export interface Goal {
  goal: string;
  value: string;
  met: boolean;
}

/** A count the scenario verified: what arrived against what had to. */
export interface Check {
  what: string;
  delivered: number;
  expected: number;
  ok: boolean;
}

/** What every scenario returns; `--json` prints it (minus `table`) as one object. */
export interface ScenarioResult {
  scenario: string;
  params: Record<string, unknown>;
  ours: unknown;
  peer?: unknown;
  ceiling?: unknown;
  /** ours / peer (and ours / ceiling) for the headline figures. */
  ratio: Record<string, number>;
  goals: Goal[];
  checks: Check[];
  /** The human-readable result. */
  table: string;
  notes?: string[];
}

/** Flags shared by every scenario (the CLI fills them in). */
export interface CommonOptions {
  /** Load-generator processes. */
  loadProcs: number;
  /** Bytes of each message's data. */
  dataBytes: number;
  /** Skip the Socket.IO run. */
  noPeer: boolean;
  /** Write CPU profiles of our servers into this directory. */
  cpuProf: string | undefined;
}

/** A scenario: options in, result out, progress on stderr. */
export type Scenario<O> = (options: O, progress: Progress) => Promise<ScenarioResult>;

/** Builds a count check. */
export function check(what: string, delivered: number, expected: number): Check {
  return { what, delivered, expected, ok: delivered === expected };
}

/** a / b, rounded to 2 decimals (NaN when b is 0 or missing). */
export function ratio(a: number | undefined, b: number | undefined): number {
  if (a === undefined || b === undefined || b === 0) return NaN;
  return Math.round((a / b) * 100) / 100;
}
