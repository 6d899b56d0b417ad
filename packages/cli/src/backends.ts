import { redactUrl } from '@roomfabric/protocol';
import { NatsBus } from '@roomfabric/bus';
import { RedisMembership } from '@roomfabric/membership';
import { UsageError } from './args.js';

/** Splits a comma-separated list of URLs, checking each one's scheme. */
export function urlList(
  flag: string,
  value: string | boolean | undefined,
  schemes: string[],
): string[] {
  if (typeof value !== 'string' || value.trim() === '')
    throw new UsageError(`--${flag} is required`);
  const urls = value
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  for (const url of urls) {
    let scheme: string;
    try {
      scheme = new URL(url).protocol.replace(/:$/, '');
    } catch {
      throw new UsageError(`--${flag}: not a URL: ${url}`);
    }
    if (!schemes.includes(scheme))
      throw new UsageError(`--${flag}: ${url} must use ${schemes.join(' or ')}://`);
  }
  return urls;
}

/** Connects to NATS and Redis; closes what it opened if the other fails. */
export async function connectBackends(
  nats: string[],
  redis: string,
  name: string,
): Promise<{ bus: NatsBus; membership: RedisMembership; close(): Promise<void> }> {
  const bus = await NatsBus.connect({ servers: nats, name });
  let membership: RedisMembership;
  try {
    membership = new RedisMembership({ url: redis });
  } catch (err) {
    await bus.close();
    throw err;
  }
  return {
    bus,
    membership,
    async close() {
      await Promise.allSettled([bus.close(), membership.close()]);
    },
  };
}

/** Resolves when the process gets SIGINT or SIGTERM; calls `onSignal` with its name first. */
export function untilSignal(onSignal: (signal: string) => void): Promise<void> {
  return new Promise((resolve) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      onSignal(signal);
      resolve();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

export { redactUrl };
