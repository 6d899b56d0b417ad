import type * as TestcontainersModule from 'testcontainers';
import type { GenericContainer, StartedTestContainer } from 'testcontainers';
import { restartOnSamePort } from './free-port.js';
import { OutputBuffer } from './output-buffer.js';
import { DEFAULT_READY_TIMEOUT_MS, type ExitInfo, type ServiceHandle } from './service-handle.js';
import { waitReady } from './wait-ready.js';

/** The `testcontainers` module, loaded only when a container is really needed. */
export type Testcontainers = typeof TestcontainersModule;

/** How to run one service as a container. */
export interface ContainerSpec {
  /** Handle name, e.g. `nats-1`. */
  name: string;
  /**
   * Builds the container: image, command, exposed ports bound to FIXED host ports (so a
   * restart lands on the same ports), wait strategy, network. Called on every (re)start.
   */
  build: (tc: Testcontainers) => GenericContainer;
  /** Extra readiness polled after the wait strategy passed (e.g. NATS routes). */
  ready?: () => Promise<boolean>;
  /** `ready` in words, for error messages. */
  readyWhat?: string;
  /** Startup timeout; default 15 s (image pulls are not counted by testcontainers). */
  timeoutMs?: number;
}

const STOP_GRACE_MS = 5_000;
const neverExits = new Promise<ExitInfo>(() => {});

/**
 * A {@link ServiceHandle} backed by a testcontainers container. `kill()` stops the container
 * with no grace period (the signal argument is ignored) and removes it; `restart()` starts a
 * NEW container from the same spec, bound to the same host ports. State inside the
 * container (e.g. a JetStream store) does not survive a restart, unlike the process runtime.
 * Containers cannot be killed from a synchronous `exit` handler; testcontainers' reaper
 * (Ryuk) removes them when the test process goes away.
 */
export class ContainerService implements ServiceHandle {
  readonly name: string;
  readonly #spec: ContainerSpec;
  readonly #output = new OutputBuffer();
  #container: StartedTestContainer | undefined;
  #disposed = false;

  constructor(spec: ContainerSpec) {
    this.name = spec.name;
    this.#spec = spec;
  }

  /** Always `undefined`: the process lives inside the container runtime. */
  get pid(): number | undefined {
    return undefined;
  }

  get running(): boolean {
    return this.#container !== undefined;
  }

  /** Starts a container and resolves when its wait strategy and `ready` pass. */
  async start(): Promise<void> {
    if (this.#disposed) throw new Error(`${this.name} was disposed; start a new one`);
    if (this.#container) throw new Error(`${this.name} is already running`);
    const timeoutMs = this.#spec.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    const tc = await import('testcontainers');
    this.#output.append(`[testkit] ${this.name}: starting container\n`);
    try {
      this.#container = await this.#spec
        .build(tc)
        .withStartupTimeout(timeoutMs)
        .withLogConsumer((stream) => {
          stream.on('data', (chunk: Buffer | string) => this.#output.append(String(chunk)));
          stream.on('error', () => {});
        })
        .start();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      throw new Error(`${this.name}: container did not start: ${message}\n${this.output()}`, {
        cause: err,
      });
    }
    const { ready, readyWhat = 'readiness probe' } = this.#spec;
    if (!ready) return;
    try {
      await waitReady({
        name: this.name,
        what: readyWhat,
        check: ready,
        exited: neverExits,
        output: () => this.output(),
        timeoutMs,
      });
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  async kill(_signal?: NodeJS.Signals): Promise<void> {
    await this.#stopContainer(0);
  }

  async stop(): Promise<void> {
    await this.#stopContainer(STOP_GRACE_MS);
  }

  async restart(): Promise<void> {
    // Docker may hold the host port for a moment after the old container is removed.
    await restartOnSamePort(
      () => this.stop(),
      () => this.start(),
      500,
    );
  }

  output(): string {
    return this.#output.text();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    await this.stop();
  }

  async #stopContainer(timeoutMs: number): Promise<void> {
    const container = this.#container;
    if (!container) return;
    this.#container = undefined;
    await container.stop({ timeout: timeoutMs, remove: true });
    this.#output.append(`[testkit] ${this.name}: container stopped\n`);
  }
}

/** Host that Docker publishes ports on, as a literal address where it is the local machine. */
export async function dockerHost(): Promise<string> {
  const { getContainerRuntimeClient } = await import('testcontainers');
  const host = (await getContainerRuntimeClient()).info.containerRuntime.host;
  return host === 'localhost' ? '127.0.0.1' : host;
}
