#!/usr/bin/env node
import { isRoomfabricError } from '@roomfabric/protocol';
import { didYouMean, helpRows, UsageError } from './args.js';
import { clusterHelp, runCluster } from './cluster-command.js';
import { devHelp, startDev } from './dev.js';
import { edgeHelp, runEdge } from './edge-command.js';
import { membershipHelp, runMembership } from './membership-command.js';
import { runScaling, scalingHelp } from './scaling-command.js';

const help = `Usage: roomfabric <command> [options]

Commands:
${helpRows([
  ['dev', 'start an embedded single-process fabric with a demo page'],
  ['edge', 'run one clustered edge node (NATS + Redis)'],
  ['membership', 'run the membership service (raids, dead-node purge)'],
  ['cluster', 'start a local cluster: nats-server, redis-server, membership, N edges'],
  ['scaling', 'measure delivered msgs/s with 1, 2 and 3 edges; writes an SVG chart'],
])}

Run "roomfabric <command> --help" for a command's options.
`;

/**
 * After a failed start every command closes what it opened, so the process ends on its
 * own. If something is still open this long after the error, exit anyway (and say so):
 * a command that failed must never hang.
 */
const FORCE_EXIT_AFTER_MS = 2000;

const print = (line: string) => process.stdout.write(`${line}\n`);

async function runDev(argv: string[]): Promise<void> {
  const running = await startDev(argv, print);
  if (!running) return;
  let closing: Promise<void> | undefined;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      print(`\n${signal}: closing (clients are told to reconnect elsewhere)`);
      closing = running.close();
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await closing;
  print('roomfabric dev: stopped');
}

const commands: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  dev: { run: runDev, help: devHelp },
  edge: { run: (argv) => runEdge(argv, print), help: edgeHelp },
  membership: { run: (argv) => runMembership(argv, print), help: membershipHelp },
  cluster: { run: (argv) => runCluster(argv, print), help: clusterHelp },
  scaling: { run: (argv) => runScaling(argv, print), help: scalingHelp },
};

/** A usage error, with the command it belongs to ('' for the top level). */
class CommandUsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(help);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) {
    const known = Object.keys(commands);
    throw new CommandUsageError('', `unknown command "${name}"${didYouMean(name, known)}`);
  }
  try {
    await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) throw new CommandUsageError(name, err.message);
    throw err;
  }
  return 0;
}

/** One line: the error, then where the help is. */
function usageLine(err: CommandUsageError): string {
  const who = err.command === '' ? 'roomfabric' : `roomfabric ${err.command}`;
  const end = /[.?!]$/.test(err.message) ? ' ' : '. ';
  return `${who}: ${err.message}${end}See ${who} --help`;
}

function fail(code: number, line: string): void {
  process.stderr.write(`${line}\n`);
  process.exitCode = code;
  setTimeout(() => {
    process.stderr.write(
      `roomfabric: still busy ${FORCE_EXIT_AFTER_MS} ms after the error above (a connection or timer left open); exiting\n`,
    );
    process.exit(code);
  }, FORCE_EXIT_AFTER_MS).unref();
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof CommandUsageError) fail(2, usageLine(err));
    else if (isRoomfabricError(err)) fail(1, `roomfabric: ${err.code}: ${err.message}`);
    else fail(1, `roomfabric: ${err instanceof Error ? err.message : String(err)}`);
  },
);
