#!/usr/bin/env node
import { isRoomfabricError } from '@roomfabric/protocol';
import { UsageError } from './args.js';
import { clusterHelp, runCluster } from './cluster-command.js';
import { devHelp, startDev } from './dev.js';
import { edgeHelp, runEdge } from './edge-command.js';
import { membershipHelp, runMembership } from './membership-command.js';
import { runScaling, scalingHelp } from './scaling-command.js';

const help = `Usage: roomfabric <command> [options]

Commands:
  dev          start an embedded single-process fabric with a demo page
  edge         run one clustered edge node (NATS + Redis)
  membership   run the membership service (raids, dead-node purge)
  cluster      start a local cluster: nats-server, redis-server, membership, N edges
  scaling      measure delivered msgs/s with 1, 2 and 3 edges; writes docs/scaling.svg

Run "roomfabric <command> --help" for a command's options.
`;

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
}

const commands: Record<string, { run: (argv: string[]) => Promise<void>; help: string }> = {
  dev: { run: runDev, help: devHelp },
  edge: { run: (argv) => runEdge(argv, print), help: edgeHelp },
  membership: { run: (argv) => runMembership(argv, print), help: membershipHelp },
  cluster: { run: (argv) => runCluster(argv, print), help: clusterHelp },
  scaling: { run: (argv) => runScaling(argv, print), help: scalingHelp },
};

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    print(help);
    return name === undefined ? 2 : 0;
  }
  const command = commands[name];
  if (!command) throw new UsageError(`unknown command "${name}"\n\n${help}`);
  try {
    await command.run(rest);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message}\n\n${command.help}`);
    throw err;
  }
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`roomfabric: ${err.message}\n`);
      process.exitCode = 2;
    } else if (isRoomfabricError(err)) {
      process.stderr.write(`roomfabric: ${err.code}: ${err.message}\n`);
      process.exitCode = 1;
    } else if (err instanceof Error && (err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      process.stderr.write(
        `roomfabric: ${err.message}: the port is taken; pass --port with another one\n`,
      );
      process.exitCode = 1;
    } else {
      process.stderr.write(`roomfabric: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
