/*
 * Runs the built `roomfabric` CLI (packages/cli/dist/bin.js) as a child process, as a user
 * would, and collects what it prints. Shared by the suites in test/cli/.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { eventually } from '@roomfabric/testkit';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const cliBin = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

/** The line bin.ts prints when it had to force the exit (handles still open). */
export const FORCED_EXIT = /still busy .* after the error/;

/**
 * Expects a failed run to have ended on its own: no forced exit, and the process gone
 * within a second of its error line (nothing left open that would hold it).
 */
export function expectEndedByItself(run: CliRun): void {
  if (FORCED_EXIT.test(run.output()) || run.elapsedMs() - run.lastOutputMs() > 1000) {
    throw new Error(
      `exited ${Math.round(run.elapsedMs() - run.lastOutputMs())} ms after its last output; output:\n${run.output()}`,
    );
  }
}

export interface CliRun {
  child: ChildProcess;
  /** stdout and stderr interleaved, as received. */
  output(): string;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (null after a signal) once the process exited. */
  exited: Promise<number | null>;
  /** Milliseconds from spawn to exit, once exited. */
  elapsedMs(): number;
  /** Milliseconds from spawn to the latest output. */
  lastOutputMs(): number;
}

/** Spawns `node [node args] packages/cli/dist/bin.js ...args`. */
export function runCli(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string; bin?: string } = {},
): CliRun {
  const started = performance.now();
  let ended: number | undefined;
  const child = spawn(process.execPath, [options.bin ?? cliBin, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, RF_LOG_LEVEL: 'warn', NO_COLOR: '1', ...options.env },
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  let lastOutput = 0;
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
    lastOutput = performance.now();
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString();
    stderr += d.toString();
    lastOutput = performance.now();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      ended = performance.now();
      resolve(code);
    }),
  );
  return {
    child,
    output: () => out,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    elapsedMs: () => (ended ?? performance.now()) - started,
    lastOutputMs: () => lastOutput - started,
  };
}

/**
 * The exit code, or a failure naming what the process printed when it has not exited
 * after `timeoutMs` (it is then killed).
 */
export async function exitWithin(run: CliRun, timeoutMs: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const result = await Promise.race([run.exited, timedOut]);
  clearTimeout(timer);
  if (result === 'timeout') {
    run.child.kill('SIGKILL');
    throw new Error(`still running after ${timeoutMs} ms; output:\n${run.output()}`);
  }
  return result;
}

/** Waits until `pattern` appears in the output; fails quoting the output if it exits first. */
export async function waitForOutput(
  run: CliRun,
  pattern: RegExp,
  timeoutMs = 20_000,
): Promise<RegExpExecArray> {
  let exited = false;
  void run.exited.then(() => (exited = true));
  await eventually(() => pattern.test(run.output()) || exited, {
    timeoutMs,
    everyMs: 25,
    soft: true,
  });
  const match = pattern.exec(run.output());
  if (match) return match;
  if (exited) throw new Error(`exited before printing ${pattern}; output:\n${run.output()}`);
  throw new Error(`no ${pattern} after ${timeoutMs} ms; output:\n${run.output()}`);
}

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * `count` consecutive ports that were free a moment ago on 127.0.0.1 (for `cluster --port`,
 * whose edges take consecutive ports), from a random base above the usual fixed ports and
 * below the ephemeral range that `freePort()` draws from.
 */
export async function consecutiveFreePorts(count: number): Promise<number> {
  const { createServer } = await import('node:net');
  const bindable = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 10_000);
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await bindable(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}
