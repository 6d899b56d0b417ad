/*
 * Usage errors and help texts of the `roomfabric` command, as a user meets them: one line
 * for a mistake (with a "did you mean" when a flag or command is close to a real one) and
 * help texts whose columns line up.
 */
import { describe, expect, it } from 'vitest';
import { exitWithin, runCli } from './cli-process.js';

const COMMANDS = ['dev', 'edge', 'membership', 'cluster', 'scaling'];

/**
 * Column problems of one help text: in each section (from one "Header:" line to the next),
 * every entry ("  --flag ARG  description" or "  name  description") starts its description
 * at the same column, and every continuation line starts at that column too.
 */
function misalignments(help: string): string[] {
  const problems: string[] = [];
  let column: number | undefined;
  let section = '(top)';
  for (const [i, line] of help.split('\n').entries()) {
    if (line.length > 100) problems.push(`line ${i + 1} is ${line.length} characters long`);
    if (/^\S.*:$/.test(line)) {
      section = line;
      column = undefined;
      continue;
    }
    const entry = /^ {2}(\S(?:\S| (?! ))*) {2,}(\S.*)$/.exec(line);
    const continuation = /^( {3,})\S/.exec(line);
    let at: number | undefined;
    if (continuation) at = continuation[1]!.length;
    else if (entry) at = line.length - entry[2]!.length;
    if (at === undefined) continue;
    if (column === undefined) column = at;
    else if (at !== column) {
      problems.push(`${section} line ${i + 1} starts at column ${at}, not ${column}: ${line}`);
    }
  }
  return problems;
}

describe('roomfabric usage errors', () => {
  it('an unknown option gets one line: the error, a "did you mean", and where the help is', async () => {
    const run = runCli(['edge', '--nat', 'nats://127.0.0.1:4222']);
    expect(await exitWithin(run, 10_000)).toBe(2);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toBe(
      'roomfabric edge: unknown option --nat; did you mean --nats? See roomfabric edge --help\n',
    );
  });

  it('an unknown command gets a "did you mean" too, and no help dump', async () => {
    const run = runCli(['clustr']);
    expect(await exitWithin(run, 10_000)).toBe(2);
    expect(run.output()).toBe(
      'roomfabric: unknown command "clustr"; did you mean cluster? See roomfabric --help\n',
    );
    const far = runCli(['frobnicate']);
    expect(await exitWithin(far, 10_000)).toBe(2);
    expect(far.output()).toBe('roomfabric: unknown command "frobnicate". See roomfabric --help\n');
  });

  it('other flag mistakes are one line each, naming the flag', async () => {
    const cases: Array<[string[], string]> = [
      [['dev', '--port'], 'roomfabric dev: --port needs a value. See roomfabric dev --help\n'],
      [
        ['dev', '--port', 'abc'],
        'roomfabric dev: --port must be an integer from 0 to 65535, got abc. See roomfabric dev --help\n',
      ],
      [
        ['cluster', 'now'],
        'roomfabric cluster: unexpected argument "now". See roomfabric cluster --help\n',
      ],
      [
        [
          'membership',
          '--nats',
          'nats://127.0.0.1:1',
          '--redis',
          'redis://127.0.0.1:1',
          '--presense',
          'x',
        ],
        'roomfabric membership: unknown option --presense; did you mean --presence? See roomfabric membership --help\n',
      ],
    ];
    for (const [args, expected] of cases) {
      const run = runCli(args);
      expect(await exitWithin(run, 10_000), args.join(' ')).toBe(2);
      expect(run.output(), args.join(' ')).toBe(expected);
    }
  });

  it('every help text lines its columns up and keeps lines under 100 characters', async () => {
    const top = runCli(['--help']);
    expect(await exitWithin(top, 10_000)).toBe(0);
    const problems: string[] = misalignments(top.stdout()).map((p) => `roomfabric --help: ${p}`);
    for (const command of COMMANDS) {
      const run = runCli([command, '--help']);
      expect(await exitWithin(run, 10_000), command).toBe(0);
      expect(run.stdout()).toContain(`Usage: roomfabric ${command}`);
      problems.push(...misalignments(run.stdout()).map((p) => `${command} --help: ${p}`));
    }
    expect(problems).toEqual([]);
  });

  it('the alignment check itself finds a misaligned entry and a misaligned continuation', () => {
    const good = 'Options:\n  --a N     one\n  --bb      two\n            more of two\n';
    expect(misalignments(good)).toEqual([]);
    expect(misalignments('Options:\n  --a N     one\n  --presence X  two\n')).toHaveLength(1);
    expect(misalignments('Options:\n  --a N     one\n             more\n')).toHaveLength(1);
  });
});
