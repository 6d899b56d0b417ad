import { cliEnv, resolveCliBin } from './cli-bin.js';
import { ProcessService } from './process-service.js';
import { type ServiceHandle } from './service-handle.js';

/** Options of {@link startMembership}. */
export interface StartMembershipOptions {
  /** NATS URL(s); several are joined with commas. */
  nats: string | string[];
  /** Redis URL. */
  redis: string;
  /** Extra `roomfabric membership` arguments. */
  args?: string[];
  /** Handle name; default `membership`. */
  name?: string;
  /** Readiness timeout; default 15 s. */
  timeoutMs?: number;
}

/** Text the membership service prints on stdout once it serves requests. */
export const MEMBERSHIP_READY_TEXT = 'roomfabric membership: ready';

/**
 * Starts `roomfabric membership` (the built CLI, run with this Node) and resolves once it
 * prints {@link MEMBERSHIP_READY_TEXT}. Fails fast, quoting its output, if it exits first.
 */
export async function startMembership(options: StartMembershipOptions): Promise<ServiceHandle> {
  const nats = Array.isArray(options.nats) ? options.nats.join(',') : options.nats;
  const service = new ProcessService({
    name: options.name ?? 'membership',
    command: process.execPath,
    args: [
      resolveCliBin(),
      'membership',
      '--nats',
      nats,
      '--redis',
      options.redis,
      ...(options.args ?? []),
    ],
    env: cliEnv(),
    readyWhat: `"${MEMBERSHIP_READY_TEXT}" on stdout`,
    readyText: MEMBERSHIP_READY_TEXT,
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
  });
  await service.start();
  return service;
}
