import { type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Every child and temp dir the testkit owns, so that a test that throws before its
// `await using` block ends, or a worker that exits early, leaves nothing behind.
const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // 'exit' handlers must be synchronous: SIGKILL needs no waiting, rmSync is fine here.
  process.on('exit', killAllChildren);
  // A fatal signal skips 'exit' handlers, and vitest ends its fork workers with SIGTERM.
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else handles this signal (e.g. a CLI that shuts down gracefully and disposes
  // its handles): leave it to them; the 'exit' hook still catches what they leave behind.
  if (process.listenerCount(signal) > 1) return;
  killAllChildren();
  // Keep the default action (terminate): drop our listeners and raise the signal again,
  // as the `signal-exit` package does.
  for (const each of SIGNALS) process.removeListener(each, onSignal);
  process.kill(process.pid, signal);
}

/** Tracks a live child; it leaves the registry by itself when it exits. */
export function trackChild(child: ChildProcess): void {
  hookExit();
  children.add(child);
  child.once('exit', () => children.delete(child));
}

/** Number of tracked children that have not exited yet (for tests). */
export function liveChildCount(): number {
  return children.size;
}

/** SIGKILLs every tracked child and removes every tracked temp dir, synchronously. */
export function killAllChildren(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  children.clear();
  for (const dir of tempDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit.
    }
  }
  tempDirs.clear();
}

/** Creates a tracked temp dir under `os.tmpdir()`, e.g. `rf-testkit-nats-XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<string> {
  hookExit();
  const dir = await mkdtemp(join(tmpdir(), `rf-testkit-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/** Removes a temp dir made by {@link makeTempDir}. */
export async function removeTempDir(dir: string): Promise<void> {
  tempDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}
