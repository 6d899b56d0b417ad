#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { topFunctions } from './profile.js';
import { machine, Progress } from './report.js';
import type { ScenarioResult } from './scenario.js';
import { bus } from './scenarios/bus.js';
import { fanout } from './scenarios/fanout.js';
import { joins } from './scenarios/joins.js';
import { memory } from './scenarios/memory.js';
import { raid, type RaidRooms } from './scenarios/raid.js';
import { recovery } from './scenarios/recovery.js';
import { storm } from './scenarios/storm.js';
import { streams } from './scenarios/streams.js';

const HELP = `Usage: npm run bench -- <scenario> [options]

Runs Roomfabric and its peer (Socket.IO 4.8 + @socket.io/redis-adapter 8.3) on this machine
in the same run, each node a process of its own, with NATS and Redis started on free ports.
Progress goes to stderr; the table (or, with --json, one JSON object) to stdout.

Scenarios:
  fanout    2 nodes, --clients in one room, 100-byte messages in bursts; plus a plain ws ceiling
  bus       6 nodes, --rooms rooms with members on 1 or 2 nodes: node deliveries per broadcast
  raid      --clients members of one room over 3 nodes, moved to another room
            (--raid-rooms: the two rooms in two slots of the index, or in one)
  joins     acked joins per second on one edge, Redis index on (peer: acked socket.join)
  memory    heap and RSS per idle connection: edge vs plain ws vs Socket.IO
  streams   --clients players at --hz in one room: naive volatile broadcasts vs a tick stream
  recovery  --clients dropped at once, --messages published while away, replayed on reconnect
            (history in JetStream; peer: Socket.IO connection state recovery)
  storm     --clients over 3 nodes, 3 of --rooms rooms each, a broadcast to every room each
            --tick-ms; one node is killed (-9): until its clients are back in their rooms
            elsewhere, until they receive again, and (ours) until the index is exact again
  profile-top FILE   the hottest functions of a .cpuprofile

Options:
  --json              print one JSON object (ours, peer, ratio, goals, checks)
  --clients N         clients (fanout 5000, raid 50000, joins 1000, memory 10000, recovery 200,
                      storm 30000)
  --messages N        fanout: cap on saturation messages (1000000); bus: broadcasts per room (3);
                      recovery: messages missed (1000)
  --burst N           fanout: messages per burst (10)
  --window N          fanout: bursts in flight at saturation (8)
  --duration S        fanout: seconds per measured phase (5)
  --warmup S          fanout: warm-up seconds (1); storm: seconds of broadcasts before the kill (1)
  --rooms N           bus: rooms (1000); storm: rooms, 3 per client (300)
  --nodes N           bus: nodes (6); raid: nodes (3); storm: nodes, one of them killed (3);
                      joins: nodes, the clients spread over them (1)
  --redis-cluster N   joins, raid: our index on a Redis Cluster of N primaries (at least 3,
                      no replicas) instead of one Redis; prints each primary's share of
                      the index's Redis commands while measuring. The peer keeps its one
                      Redis: its adapter only publishes and subscribes (default: one Redis)
  --raid-rooms KIND   raid: cross-slot (raid-a -> raid-b, two slots: the cross-slot steps)
                      or same-slot ({raid}a -> {raid}b, one {tag}: one script) (cross-slot)
  --per-client N      joins: JOINs per client, at most 128 (100)
  --join-window N     joins: JOINs in flight per client (16)
  --join-rooms N      joins: the joins go to N rooms shared by all clients (each client
                      joins --per-client distinct ones; the first joins create them), not
                      each to a new room of its own (0: new rooms) (0)
  --data-bytes N      bytes of message data (100)
  --load-procs N      load-generator processes (fanout/bus/joins/memory 2, raid/storm 4)
  --no-peer           skip Socket.IO
  --no-ceiling        fanout: skip the plain ws ceiling
  --cpu-prof DIR      profile our nodes while measuring; .cpuprofile files go to DIR
  --hz N              streams: position updates per player per second (60)
  --tick-hz N         streams: batches per second (60)
  --tick-ms N         storm: a broadcast to every room this often (50)
  --lease-ttl-ms N    storm: the edges' lease TTL; renewals and the purge check every fifth (5000)
  --reconnect-delay-ms N  storm: movers reconnect with the SDK's backoff from this delay,
                      doubling to 10 s, 50% jitter, for both systems (250, the SDK's default)
  --levels LIST       fanout: open-loop loads, fractions of the max rate (0.5), e.g. 0.1,0.25,0.5
  --only LIST         fanout: run only these of ours,peer,ceiling (for profiling)
  -h, --help          this help
`;

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    clients: { type: 'string' },
    messages: { type: 'string' },
    burst: { type: 'string' },
    window: { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    rooms: { type: 'string' },
    nodes: { type: 'string' },
    'per-client': { type: 'string' },
    'join-window': { type: 'string' },
    'join-rooms': { type: 'string' },
    'data-bytes': { type: 'string' },
    'load-procs': { type: 'string' },
    'no-peer': { type: 'boolean' },
    'no-ceiling': { type: 'boolean' },
    'cpu-prof': { type: 'string' },
    only: { type: 'string' },
    levels: { type: 'string' },
    hz: { type: 'string' },
    'tick-hz': { type: 'string' },
    'tick-ms': { type: 'string' },
    'lease-ttl-ms': { type: 'string' },
    'reconnect-delay-ms': { type: 'string' },
    'redis-cluster': { type: 'string' },
    'raid-rooms': { type: 'string' },
  },
});

/** A positive number flag, or its default. */
function num(name: keyof typeof values, fallback: number, min = 1, max = 10_000_000): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < min || v > max) {
    throw new Error(`--${name} must be a number from ${min} to ${max}`);
  }
  return v;
}

/** `0.1,0.5` -> [0.1, 0.5]; each in (0, 1]. */
function levels(raw: string): number[] {
  const list = raw.split(',').map(Number);
  if (list.some((v) => !(v > 0 && v <= 1))) throw new Error('--levels: fractions in (0, 1]');
  return list;
}

/** `--redis-cluster N`: primaries of our index's cluster, or undefined (one Redis). */
function redisCluster(scenario: string): number | undefined {
  if (values['redis-cluster'] === undefined) return undefined;
  if (scenario !== 'joins' && scenario !== 'raid') {
    throw new Error('--redis-cluster is for joins and raid');
  }
  const n = num('redis-cluster', 3, 3, 16);
  if (!Number.isInteger(n)) throw new Error('--redis-cluster must be a whole number of primaries');
  return n;
}

/** `--raid-rooms same-slot|cross-slot`. */
function raidRooms(): RaidRooms {
  const raw = values['raid-rooms'] ?? 'cross-slot';
  if (raw !== 'cross-slot' && raw !== 'same-slot') {
    throw new Error('--raid-rooms must be cross-slot or same-slot');
  }
  return raw;
}

async function main(): Promise<void> {
  const [scenario, arg] = positionals;
  if (values.help || !scenario) {
    process.stdout.write(HELP);
    return;
  }
  if (values['raid-rooms'] !== undefined && scenario !== 'raid') {
    throw new Error('--raid-rooms is for raid');
  }
  if (scenario === 'profile-top') {
    if (!arg) throw new Error('profile-top needs a .cpuprofile file');
    for (const t of topFunctions(arg, 25)) {
      process.stdout.write(`${String(t.selfPct).padStart(5)}%  ${t.fn}\n`);
    }
    return;
  }
  const primaries = redisCluster(scenario);
  const common = {
    dataBytes: num('data-bytes', 100, 16, 60_000),
    noPeer: values['no-peer'] === true,
    cpuProf: values['cpu-prof'],
  };
  const progress = new Progress(scenario);
  let result: ScenarioResult;
  switch (scenario) {
    case 'fanout':
      result = await fanout(
        {
          ...common,
          loadProcs: num('load-procs', 2, 1, 16),
          clients: num('clients', 5000, 2),
          messages: num('messages', 1_000_000),
          burst: num('burst', 10),
          window: num('window', 8),
          durationMs: num('duration', 5, 0.1, 600) * 1000,
          warmupMs: num('warmup', 1, 0, 600) * 1000,
          noCeiling: values['no-ceiling'] === true,
          only: values.only?.split(','),
          levels: levels(values.levels ?? '0.5'),
        },
        progress,
      );
      break;
    case 'bus':
      result = await bus(
        {
          ...common,
          loadProcs: num('load-procs', 2, 1, 16),
          rooms: num('rooms', 1000),
          nodes: num('nodes', 6, 2, 16),
          messages: num('messages', 3),
        },
        progress,
      );
      break;
    case 'raid':
      result = await raid(
        {
          ...common,
          loadProcs: num('load-procs', 4, 1, 16),
          clients: num('clients', 50_000),
          nodes: num('nodes', 3, 1, 16),
          raidRooms: raidRooms(),
          redisCluster: primaries,
        },
        progress,
      );
      break;
    case 'joins':
      result = await joins(
        {
          ...common,
          loadProcs: num('load-procs', 2, 1, 16),
          clients: num('clients', 1000),
          perClient: num('per-client', 100, 1, 128),
          window: num('join-window', 16, 1, 128),
          sharedRooms: num('join-rooms', 0, 0),
          nodes: num('nodes', 1, 1, 16),
          redisCluster: primaries,
        },
        progress,
      );
      break;
    case 'memory':
      result = await memory(
        { ...common, loadProcs: num('load-procs', 2, 1, 16), clients: num('clients', 10_000) },
        progress,
      );
      break;
    case 'streams':
      result = await streams(
        {
          players: num('clients', 100, 2, 2000),
          hz: num('hz', 60, 1, 240),
          tickHz: num('tick-hz', 60, 1, 240),
          durationMs: num('duration', 3, 0.5, 600) * 1000,
        },
        progress,
      );
      break;
    case 'recovery':
      result = await recovery(
        {
          clients: num('clients', 200, 1, 5000),
          missed: num('messages', 1000, 1, 100_000),
          noPeer: common.noPeer,
        },
        progress,
      );
      break;
    case 'storm':
      result = await storm(
        {
          ...common,
          loadProcs: num('load-procs', 4, 1, 16),
          clients: num('clients', 30_000, 3),
          nodes: num('nodes', 3, 2, 16),
          rooms: num('rooms', 300, 3),
          tickMs: num('tick-ms', 50, 5, 10_000),
          warmupMs: num('warmup', 1, 0, 600) * 1000,
          leaseTtlMs: num('lease-ttl-ms', 5000, 250, 3_600_000),
          reconnectDelayMs: num('reconnect-delay-ms', 250, 1, 60_000),
        },
        progress,
      );
      break;
    default:
      throw new Error(`unknown scenario "${scenario}" (try --help)`);
  }
  const { table: text, ...rest } = result;
  if (values.json) {
    const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`;
    process.stdout.write(`${JSON.stringify({ ...rest, command, machine: machine() })}\n`);
    return;
  }
  const goals = result.goals.map(
    (g) => `  ${g.met ? 'met    ' : 'NOT met'}  ${g.goal}: ${g.value}`,
  );
  const checks = result.checks.map(
    (c) => `  ${c.ok ? 'ok  ' : 'FAIL'}  ${c.what}: ${c.delivered} of ${c.expected}`,
  );
  process.stdout.write(
    [text, '', 'goals:', ...goals, 'checks:', ...checks, ...(result.notes ?? []), ''].join('\n'),
  );
  if (result.checks.some((c) => !c.ok)) process.exitCode = 1;
}

main().then(
  // Children and servers are gone; a lingering handle must not keep the process alive.
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    process.stderr.write(
      `bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
