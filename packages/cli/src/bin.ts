#!/usr/bin/env node
import { isRoomfabricError } from '@roomfabric/protocol';
import { UsageError } from './args.js';
import { devHelp, startDev, type DevServer } from './dev.js';

const help = `Usage: roomfabric <command> [options]

Commands:
  dev     start an embedded single-process fabric with a demo page

Run "roomfabric <command> --help" for a command's options.
`;

const print = (line: string) => process.stdout.write(`${line}\n`);

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    print(help);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'dev') {
    throw new UsageError(`unknown command "${command}"\n\n${help}`);
  }
  let running: DevServer | undefined;
  try {
    running = await startDev(rest, print);
  } catch (err) {
    if (err instanceof UsageError) throw new UsageError(`${err.message}\n\n${devHelp}`);
    throw err;
  }
  if (!running) return 0;
  const server = running;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      print(`\n${signal}: closing (clients are told to reconnect elsewhere)`);
      server.close().then(resolve, (err: unknown) => {
        process.stderr.write(`error while closing: ${String(err)}\n`);
        resolve();
      });
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
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
      process.stderr.write(
        `roomfabric: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 1;
    }
  },
);
