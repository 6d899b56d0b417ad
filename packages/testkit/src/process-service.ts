import { type ChildProcess, spawn } from 'node:child_process';
import { removeTempDir, trackChild } from './child-registry.js';
import { restartOnSamePort } from './free-port.js';
import { OutputBuffer } from './output-buffer.js';
import { DEFAULT_READY_TIMEOUT_MS, type ExitInfo, type ServiceHandle } from './service-handle.js';
import { sleep, waitReady } from './wait-ready.js';

/** How to run one service as a child process and how to tell that it is ready. */
export interface ProcessSpec {
  /** Handle name, e.g. `nats-1`. */
  name: string;
  /** Executable path (or `process.execPath` for Node scripts). */
  command: string;
  /** Arguments, fixed for the life of the handle so `restart()` reuses the same ports. */
  args: readonly string[];
  /** Child environment; defaults to the parent's. */
  env?: NodeJS.ProcessEnv;
  /** Readiness in words, for error messages, e.g. `GET /healthz -> 200`. */
  readyWhat: string;
  /** Readiness probe polled every ~50 ms with the child's pid; a rejection counts as "not yet". */
  ready?: (pid: number) => Promise<boolean>;
  /** Ready once stdout has contained this text since the latest spawn (AND `ready`). */
  readyText?: string;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
  /** Temp dir owned by the service, removed on dispose (kept across restarts). */
  tempDir?: string;
  /** Time `stop()` waits between SIGTERM and SIGKILL; default 5 s. */
  stopGraceMs?: number;
}

/**
 * A {@link ServiceHandle} backed by a child process: spawn, readiness wait that notices an
 * early exit, kill/stop/restart on the same arguments, bounded captured output.
 */
export class ProcessService implements ServiceHandle {
  readonly name: string;
  readonly #spec: ProcessSpec;
  readonly #output = new OutputBuffer();
  #child: ChildProcess | undefined;
  #exit: Promise<ExitInfo> = Promise.resolve({ code: null, signal: null });
  #alive = false;
  #readyTextSeen = false;
  #disposed = false;

  constructor(spec: ProcessSpec) {
    this.name = spec.name;
    this.#spec = spec;
  }

  get pid(): number | undefined {
    return this.#alive ? this.#child?.pid : undefined;
  }

  get running(): boolean {
    return this.#alive;
  }

  /** Spawns the process and resolves when it is ready; kills it if it never gets there. */
  async start(): Promise<void> {
    if (this.#disposed) throw new Error(`${this.name} was disposed; start a new one`);
    if (this.#alive) throw new Error(`${this.name} is already running (pid ${this.pid})`);
    const exitedAndFlushed = this.#spawn();
    const { ready, readyText } = this.#spec;
    try {
      await waitReady({
        name: this.name,
        what: this.#spec.readyWhat,
        check: async () => {
          // No pid: the spawn failed and the 'error' event (our early exit) is on its way.
          const pid = this.pid;
          if (pid === undefined) return false;
          if (readyText !== undefined && !this.#readyTextSeen) return false;
          // Still alive after the probe: an answer from another server that holds the port
          // must not count while ours is dying of EADDRINUSE.
          return (ready ? await ready(pid) : true) && this.#alive;
        },
        exited: exitedAndFlushed,
        output: () => this.output(),
        timeoutMs: this.#spec.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
      });
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.#child;
    if (!child || !this.#alive) return;
    const exit = this.#exit;
    child.kill(signal);
    await exit;
  }

  async stop(): Promise<void> {
    const child = this.#child;
    if (!child || !this.#alive) return;
    const exit = this.#exit;
    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const exited = await Promise.race([
      exit.then(() => true),
      new Promise<boolean>(
        (resolve) => (timer = setTimeout(() => resolve(false), this.#spec.stopGraceMs ?? 5_000)),
      ),
    ]);
    clearTimeout(timer);
    if (!exited) await this.kill('SIGKILL');
  }

  async restart(): Promise<void> {
    // The old socket can linger for a moment on some systems; the port is fixed, so wait.
    await restartOnSamePort(
      () => this.stop(),
      () => this.start(),
      250,
    );
  }

  output(): string {
    return this.#output.text();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    await this.stop();
    if (this.#spec.tempDir !== undefined) await removeTempDir(this.#spec.tempDir);
  }

  /** Spawns the child; returns a promise that settles once it exited and its output is read. */
  #spawn(): Promise<ExitInfo> {
    const { command, args, env, readyText } = this.#spec;
    this.#output.append(`[testkit] ${this.name}: ${[command, ...args].join(' ')}\n`);
    const child = spawn(command, [...args], {
      env: env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    this.#alive = true;
    this.#readyTextSeen = false;
    let tail = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      this.#output.append(chunk);
      if (readyText === undefined || this.#readyTextSeen) return;
      // Keep a short tail so the text is found even when split across two chunks.
      const text = tail + chunk;
      this.#readyTextSeen = text.includes(readyText);
      tail = text.slice(-readyText.length);
    });
    child.stderr.on('data', (chunk: string) => this.#output.append(chunk));
    const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
    this.#exit = new Promise<ExitInfo>((resolve) => {
      const settle = (info: ExitInfo) => {
        if (this.#child === child) this.#alive = false;
        resolve(info);
      };
      child.once('exit', (code, signal) => {
        this.#output.append(`[testkit] ${this.name}: exited (code ${code}, signal ${signal})\n`);
        settle({ code, signal });
      });
      child.on('error', (error) => {
        // Without a pid the spawn itself failed (e.g. ENOENT) and no 'exit' will follow.
        if (child.pid === undefined) settle({ code: null, signal: null, error });
        else this.#output.append(`[testkit] ${this.name}: ${error.message}\n`);
      });
    });
    if (child.pid !== undefined) trackChild(child);
    // Give stdout/stderr up to 500 ms to drain so an early-exit error quotes all of it.
    return this.#exit.then(async (info) => {
      await Promise.race([closed, sleep(500)]);
      return info;
    });
  }
}
