#!/usr/bin/env node
// Runs the shell commands of README.md as a new user would type them, so that a command
// the README shows cannot silently stop working (e.g. `npx roomfabric` on a fresh clone).
//
// Every command of the README (each line of a ```sh block, and each inline `npm ...`,
// `npx ...`, `roomfabric ...` span of the prose) must be listed in COMMANDS below, either
// run or knowingly skipped with the reason. A command the README gains, or one listed
// here that the README lost, fails this script.
//
// A long-running command (a server) is started exactly as written, in a process group of
// its own as a terminal would run it; once its ready line is printed, its health URLs are
// probed; then the whole group gets SIGINT (Ctrl-C) and it must stop cleanly: its own
// "stopped" line, nothing left running, its ports free again.
//
//   node .ci/readme-commands.mjs            run them (CI: .ci/run, after npm ci)
//   node .ci/readme-commands.mjs --check    only check that every command is known
//   node .ci/readme-commands.mjs --readme FILE   another README (for the script's test)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** How long a server may take to print its ready line (`npm start` builds first). */
const READY_TIMEOUT_MS = 180_000;
/** How long it may take to stop after SIGINT. */
const STOP_TIMEOUT_MS = 30_000;

const ciRuns = (what) => `.ci/run ${what}`;

/**
 * Every command of the README, as written there (a line with `&&` is split into its
 * steps). `skip` says why it is not run here; otherwise `short` (runs to completion, exit 0,
 * `expect` in its output) or `server` (runs until SIGINT; `ready` says how to check it).
 */
const COMMANDS = {
  'npm ci': { skip: ciRuns('ran it just before this script') },
  'npm test': { skip: ciRuns('runs it last') },
  'npm run build': { short: true },
  'npm start': { server: devServer(3000) },
  'npm start -- --port 8080': { server: devServer(8080) },
  'roomfabric dev --help': { short: true, expect: /^Usage: roomfabric dev/m },
  'npx roomfabric cluster --edges 3': { server: clusterServer([3000, 3001, 3002]) },
  "npx roomfabric cluster --edges 2 --presence 'doc:*' --history 'doc:*' --channels": {
    server: clusterServer([3000, 3001]),
  },
  'roomfabric edge --nats URLS --redis URL --node-id ID --port N --jwt-secret-file F': {
    skip: 'a template: URLS, URL, ID, N and F stand for your values',
  },
  'roomfabric cluster': { skip: 'names the command, run above as npx roomfabric cluster' },
  'roomfabric membership --nats URLS --redis URL': {
    skip: 'a template: URLS and URL stand for your values',
  },
  'npm run lint': { skip: ciRuns('runs it') },
  'npm run format': { skip: 'writes files; .ci/run checks them with npm run format:check' },
  'npm run typecheck': { skip: ciRuns('runs it') },
  'npm run test:chaos': { skip: 'npm test runs the chaos suite too' },
  'npm run test:unit': { short: true, expect: /Tests +\d+ passed/ },
  'npm run test:int': { skip: 'npm test runs the int lane too' },
  'npm run test:e2e': { skip: 'npm test runs the e2e lane too' },
  'node scripts/import-cycles.mjs': { short: true, expect: /0 package cycles, 0 module cycles/ },
  'npx vitest run test/broadcast.test.ts': { short: true, expect: /Tests +\d+ passed/ },
  'npm run scaling': {
    skip: 'a 30 s benchmark; test/cli/scaling-out.int.test.ts runs a small one',
  },
  'npm run bench -- <scenario>': { skip: 'a template: <scenario> stands for a scenario name' },
  '.ci/run': { skip: 'this script is part of it' },
  '.ci/readme-commands.mjs': { skip: 'this script' },
};

/** Inline code spans that are shell commands (and not, say, a flag or a function call). */
const INLINE_COMMAND = /^(npm|npx|node|roomfabric|docker|git|curl)\s|^\.ci\/|^\.\.?\//;

const args = process.argv.slice(2);
const checkOnly = args.includes('--check');
const readmeAt = args.includes('--readme') ? args[args.indexOf('--readme') + 1] : undefined;
const readmePath = resolve(readmeAt ?? join(root, 'README.md'));

const lines = readmeCommandLines(readFileSync(readmePath, 'utf8'));
const problems = [];
const seen = new Set();
const plan = [];
for (const line of lines) {
  const steps = line.split(/\s+&&\s+/);
  const runnable = [];
  for (const step of steps) {
    seen.add(step);
    const known = COMMANDS[step];
    if (!known)
      problems.push(`README.md has \`${step}\`, which this script neither runs nor skips`);
    else if (known.skip) console.log(`skip  ${step}  (${known.skip})`);
    else runnable.push(step);
  }
  if (runnable.length === 0) continue;
  const servers = runnable.filter((step) => COMMANDS[step].server);
  if (servers.length > 1 || (servers.length === 1 && servers[0] !== runnable.at(-1))) {
    problems.push(`\`${line}\`: only its last step may be a server`);
    continue;
  }
  const command = runnable.join(' && ');
  if (plan.some((p) => p.command === command)) continue;
  plan.push({ command, spec: COMMANDS[runnable.at(-1)] });
  console.log(`run   ${command}`);
}
for (const command of Object.keys(COMMANDS)) {
  if (!seen.has(command)) {
    problems.push(`README.md no longer has \`${command}\`: remove it from .ci/readme-commands.mjs`);
  }
}
if (problems.length > 0) {
  for (const problem of problems) console.error(`readme-commands: ${problem}`);
  process.exit(1);
}
if (!checkOnly) {
  for (const { command, spec } of plan) {
    const started = Date.now();
    console.log(`\n--- ${command}`);
    await (spec.server ? runServer(command, spec.server) : runShort(command, spec));
    console.log(`--- ok (${((Date.now() - started) / 1000).toFixed(1)} s): ${command}`);
  }
}

/**
 * The README's shell commands in order: every line of a sh/bash/shell block (comments
 * dropped), then every inline code span of the prose that starts like a command.
 */
function readmeCommandLines(text) {
  const found = [];
  const prose = [];
  let fence;
  for (const line of text.split('\n')) {
    const open = /^```(\w*)/.exec(line);
    if (open && fence === undefined) {
      fence = open[1];
      continue;
    }
    if (open) {
      fence = undefined;
      continue;
    }
    if (fence === undefined) prose.push(line);
    else if (['sh', 'bash', 'shell', 'console'].includes(fence)) {
      const command = line.replace(/(^|\s)#.*$/, '').trim();
      if (command !== '') found.push(command);
    }
  }
  // Inline spans may wrap across lines of the paragraph.
  for (const match of prose.join('\n').matchAll(/`([^`]+)`/g)) {
    const span = match[1].replace(/\s+/g, ' ').trim();
    if (INLINE_COMMAND.test(span)) found.push(span);
  }
  return found;
}

/** Runs a command to completion in the repository; exit 0 and `expect` in its output. */
async function runShort(command, spec) {
  const run = start(command);
  const code = await run.exited;
  if (code !== 0 || (spec.expect && !spec.expect.test(run.output()))) {
    fail(command, `exited ${code}${spec.expect ? `, expected ${spec.expect}` : ''}`, run);
  }
}

/** Starts a server command, waits for it, checks it, Ctrl-Cs it, checks it stopped cleanly. */
async function runServer(command, server) {
  for (const port of server.ports) {
    if (!(await portFree(port))) {
      fail(command, `port ${port} is taken before it starts: it cannot run as written here`);
    }
  }
  const run = start(command);
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!server.ready.test(run.output())) {
      if (run.exitCode() !== undefined) fail(command, `exited ${run.exitCode()} before ready`, run);
      if (Date.now() > deadline) fail(command, `no ${server.ready} in ${READY_TIMEOUT_MS} ms`, run);
      await sleep(100);
    }
    await server.check(run.output(), (why) => fail(command, why, run));
    // Ctrl-C in a terminal: SIGINT to the whole foreground process group.
    process.kill(-run.pid, 'SIGINT');
    const stopDeadline = Date.now() + STOP_TIMEOUT_MS;
    while (groupAlive(run.pid)) {
      if (Date.now() > stopDeadline) {
        fail(command, `processes left ${STOP_TIMEOUT_MS} ms after SIGINT`, run);
      }
      await sleep(100);
    }
    const code = await run.exited;
    // npm re-raises a Ctrl-C it was sent (a terminal shows ^C); anything else is a failure.
    if (code !== 0 && code !== 'SIGINT') fail(command, `exited ${code} after SIGINT`, run);
    const after = run.output().slice(run.output().lastIndexOf('SIGINT'));
    if (!server.stopped.test(after) || /^roomfabric: /m.test(after)) {
      fail(command, `did not stop cleanly after SIGINT (expected ${server.stopped})`, run);
    }
    for (const port of server.ports) {
      if (!(await portFree(port))) fail(command, `port ${port} still taken after it stopped`, run);
    }
  } finally {
    if (groupAlive(run.pid)) process.kill(-run.pid, 'SIGKILL');
  }
}

/** `roomfabric dev` through npm start: its health URL on `port` answers as node "dev". */
function devServer(port) {
  return {
    ports: [port],
    ready: /^Press Ctrl-C to stop\.$/m,
    stopped: /^roomfabric dev: stopped$/m,
    async check(output, fail) {
      const health = /^ {2}health +(http:\S+)$/m.exec(output)?.[1];
      if (health !== `http://127.0.0.1:${port}/healthz`) {
        fail(`printed health URL ${health}, not http://127.0.0.1:${port}/healthz`);
      }
      await expectJson(health, { status: 'ok', node: 'dev' }, fail);
      await expectPage(`http://127.0.0.1:${port}/`, fail);
    },
  };
}

/** `roomfabric cluster`: one edge per port, each answering as its node, with the demo. */
function clusterServer(ports) {
  return {
    ports,
    ready: /^Cluster ready\./m,
    stopped: /^Cluster stopped/m,
    async check(output, fail) {
      const edges = [...output.matchAll(/^edge (n\d+) +ws:\/\/127\.0\.0\.1:(\d+)\/ws/gm)];
      const got = edges.map((m) => Number(m[2]));
      if (got.join() !== ports.join()) fail(`edges on ports ${got.join()}, not ${ports.join()}`);
      for (const [, node, port] of edges) {
        await expectJson(`http://127.0.0.1:${port}/healthz`, { status: 'ok', node }, fail);
        await expectJson(`http://127.0.0.1:${port}/readyz`, { ready: true, node }, fail);
        await expectPage(`http://127.0.0.1:${port}/`, fail);
      }
      if (!/^server API +createServer\(\{ nats: \['nats:\/\/[^']+'\], redis: '/m.test(output)) {
        fail('no createServer line printed');
      }
    },
  };
}

async function expectJson(url, fields, fail) {
  let body;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    body = { status: res.status, json: await res.json() };
  } catch (err) {
    fail(`GET ${url}: ${err.message}`);
  }
  const wrong = Object.entries(fields).filter(([k, v]) => body.json[k] !== v);
  if (body.status !== 200 || wrong.length > 0) {
    fail(
      `GET ${url}: HTTP ${body.status} ${JSON.stringify(body.json)}, expected ${JSON.stringify(fields)}`,
    );
  }
}

async function expectPage(url, fail) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    if (res.status !== 200 || !text.includes('<html'))
      fail(`GET ${url}: HTTP ${res.status}, no page`);
  } catch (err) {
    fail(`GET ${url}: ${err.message}`);
  }
}

/** Runs `command` with bash in the repository, in a process group of its own. */
function start(command) {
  const child = spawn('bash', ['-c', command], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    // What `npm ci` links is what a user's shell finds through npm (npx, npm exec).
    env: {
      ...process.env,
      PATH: `${join(root, 'node_modules/.bin')}:${process.env.PATH}`,
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
  });
  let out = '';
  let exitCode;
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) =>
    child.on('close', (code, signal) => resolve((exitCode = code ?? signal))),
  );
  return { pid: child.pid, output: () => out, exited, exitCode: () => exitCode };
}

function groupAlive(pgid) {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function fail(command, why, run) {
  console.error(`readme-commands: \`${command}\` ${why}`);
  if (run) console.error(`--- its output:\n${run.output().trimEnd()}`);
  if (run && groupAlive(run.pid)) process.kill(-run.pid, 'SIGKILL');
  process.exit(1);
}
