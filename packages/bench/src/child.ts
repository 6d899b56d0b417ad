import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/*
 * Request/response over the IPC channel of forked benchmark children (load generators,
 * publishers, peer servers), so that every heavy process has an event loop of its own.
 */

interface Request {
  id: number;
  op: string;
  args: unknown;
}
interface Response {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}
/** Unsolicited message from a child (progress, readiness). */
export interface ChildEvent {
  event: string;
  [key: string]: unknown;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/** A forked child that answers `call(op, args)`. */
export class ChildHandle {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private readonly listeners = new Set<(event: ChildEvent) => void>();
  private exited = false;
  private stderrTail = '';

  constructor(
    readonly name: string,
    readonly process: ChildProcess,
  ) {
    live.add(process);
    process.on('message', (raw: Response | ChildEvent) => {
      if ('event' in raw) {
        for (const listener of this.listeners) listener(raw);
        return;
      }
      const pending = this.pending.get(raw.id);
      if (!pending) return;
      this.pending.delete(raw.id);
      if (raw.ok) pending.resolve(raw.result);
      else pending.reject(new Error(`${name}: ${raw.error ?? 'failed'}`));
    });
    process.stderr?.on('data', (chunk: Buffer) => {
      this.stderrTail = (this.stderrTail + chunk.toString()).slice(-4000);
      if (globalThis.process.env.RF_BENCH_DEBUG)
        globalThis.process.stderr.write(`[${name}] ${chunk}`);
    });
    process.on('exit', (code, signal) => {
      live.delete(process);
      this.exited = true;
      const err = new Error(
        `${name} exited (${signal ?? `code ${String(code)}`})${this.stderrTail ? `: ${this.stderrTail.trim().slice(-1500)}` : ''}`,
      );
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    });
  }

  get pid(): number | undefined {
    return this.exited ? undefined : this.process.pid;
  }

  /** Sends a request and waits for its answer (rejects after `timeoutMs`). */
  call<T = unknown>(op: string, args: unknown = null, timeoutMs = 120_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${op} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.process.send({ id, op, args } satisfies Request);
    });
  }

  /** Listens to unsolicited events; returns a function that stops listening. */
  onEvent(listener: (event: ChildEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Waits for the first event named `name`. */
  waitEvent(name: string, timeoutMs = 20_000): Promise<ChildEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`${this.name}: no "${name}" within ${timeoutMs} ms: ${this.stderrTail}`));
      }, timeoutMs);
      const onExit = () => {
        clearTimeout(timer);
        off();
        reject(new Error(`${this.name} exited before "${name}": ${this.stderrTail}`));
      };
      this.process.once('exit', onExit);
      const off = this.onEvent((event) => {
        if (event.event !== name) return;
        clearTimeout(timer);
        off();
        this.process.off('exit', onExit);
        resolve(event);
      });
    });
  }

  /** SIGKILL at once (a crash); resolves once exited. */
  async kill(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.process.once('exit', () => resolve()));
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}

/** Options of {@link forkChild}. */
export interface ForkOptions {
  args?: string[];
  /** Extra Node flags, e.g. `--expose-gc`. */
  nodeArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

/**
 * Forks one of this package's scripts (a path relative to `dist/`, e.g. `load/worker.js`)
 * with an IPC channel; stdout is ignored, stderr kept for error reports.
 */
export function forkChild(name: string, script: string, options: ForkOptions = {}): ChildHandle {
  const path = fileURLToPath(new URL(script, import.meta.url));
  const child = fork(path, options.args ?? [], {
    execArgv: options.nodeArgs ?? [],
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    serialization: 'advanced',
  });
  return new ChildHandle(name, child);
}

/** Child side: answers requests with `handlers[op](args)`. */
export function serveRequests(
  handlers: Record<string, (args: never) => unknown>,
  onDisconnect: () => void = () => process.exit(0),
): void {
  process.on('message', (raw: Request) => {
    const handler = handlers[raw.op];
    const reply = (r: Response) => process.send?.(r);
    if (!handler) {
      reply({ id: raw.id, ok: false, error: `unknown op ${raw.op}` });
      return;
    }
    Promise.resolve()
      .then(() => handler(raw.args as never))
      .then(
        (result) => reply({ id: raw.id, ok: true, result }),
        (err: unknown) =>
          reply({
            id: raw.id,
            ok: false,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
          }),
      );
  });
  // The parent went away: leave too, so no child outlives a benchmark.
  process.on('disconnect', onDisconnect);
  process.on('SIGTERM', onDisconnect);
}

/** Child side: sends an unsolicited event to the parent. */
export function sendEvent(event: string, fields: Record<string, unknown> = {}): void {
  process.send?.({ event, ...fields });
}
