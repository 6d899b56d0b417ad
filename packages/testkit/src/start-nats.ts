import { removeTempDir, makeTempDir } from './child-registry.js';
import { chooseRuntime, type Runtime } from './choose-runtime.js';
import { dockerHost } from './container-service.js';
import { freePorts, retryOnAddressInUse } from './free-port.js';
import { type NatsHandle, natsContainer, natsProcess } from './nats-server.js';

/** Options of {@link startNats}. */
export interface StartNatsOptions {
  /** Client port; default a free one. */
  port?: number;
  /** Enable JetStream, with its store in a temp dir that survives `restart()`. */
  jetstream?: boolean;
  /** Extra nats-server arguments. */
  args?: string[];
  /** Handle name; default `nats`. */
  name?: string;
  /** Where to run it; default `RF_TESTKIT_RUNTIME` or `auto`. */
  runtime?: Runtime;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
}

/**
 * Starts one NATS server on 127.0.0.1 and resolves once `GET /healthz` on its monitoring
 * port answers 200. Fails fast, quoting the server's output, if it exits first.
 *
 * @example
 * await using nats = await startNats();
 * const nc = await connect({ servers: nats.url });
 */
export async function startNats(options: StartNatsOptions = {}): Promise<NatsHandle> {
  const { jetstream = false, args = [], name = 'nats', timeoutMs } = options;
  const choice = await chooseRuntime('nats-server', { runtime: options.runtime });
  const host = choice.kind === 'docker' ? await dockerHost() : '127.0.0.1';
  const storeDir = jetstream && choice.kind === 'process' ? await makeTempDir('nats') : undefined;
  try {
    return await retryOnAddressInUse(async () => {
      const [port, monitorPort] = await ports(options.port);
      const config = { name, host, port, monitorPort, jetstream, storeDir, args, timeoutMs };
      const server =
        choice.kind === 'process' ? natsProcess(choice.path, config) : natsContainer(config);
      await server.start();
      return server;
    });
  } catch (err) {
    if (storeDir !== undefined) await removeTempDir(storeDir);
    throw err;
  }
}

async function ports(pinned: number | undefined): Promise<[number, number]> {
  if (pinned === undefined) return (await freePorts(2)) as [number, number];
  let [monitorPort] = (await freePorts(1)) as [number];
  if (monitorPort === pinned) [monitorPort] = (await freePorts(1)) as [number];
  return [pinned, monitorPort];
}
