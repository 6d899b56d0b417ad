import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, removeTempDir, trackChild } from './child-registry.js';
import { disposeAll } from './dispose-all.js';
import { eventually } from './eventually.js';
import { findBinary } from './find-binary.js';
import { freePorts, retryOnAddressInUse } from './free-port.js';
import { ProcessService } from './process-service.js';
import { redisServerPid } from './probes.js';
import { redisCommand, type RespValue } from './resp.js';
import { DEFAULT_READY_TIMEOUT_MS, type ServiceHandle } from './service-handle.js';
import { EPHEMERAL } from './start-redis.js';

/** Number of hash slots of a Redis cluster. */
export const REDIS_CLUSTER_SLOTS = 16384;

/** What a cluster node is right now, as its `ROLE` says. */
export type RedisClusterRole = 'primary' | 'replica';

/** One redis-server of a cluster started by {@link startRedisCluster}. */
export interface RedisClusterNode extends ServiceHandle {
  /** e.g. `redis://127.0.0.1:7001`. */
  readonly url: string;
  /** Client port (kept across restarts). */
  readonly port: number;
  /** Cluster bus port (kept across restarts). */
  readonly busPort: number;
  /** Cluster node id (40 hex digits); the same after `restart()`, which reuses the node's config file. */
  readonly id: string;
  /** `primary` or `replica`, asked with `ROLE`; rejects when the node does not answer. */
  role(): Promise<RedisClusterRole>;
  /** One command to this node only (no `MOVED` redirects); rejects on an error reply. */
  command(...args: (string | number)[]): Promise<RespValue>;
  /**
   * `redis-cli -c -h 127.0.0.1 -p <port> ...args`: a cluster client that follows `MOVED`.
   * Resolves with its stdout without the final newline; redis-cli prints an error reply
   * (`ERR ...`) there too and still exits 0. Killed, and rejects, after 5 s.
   */
  cli(...args: (string | number)[]): Promise<string>;
}

/** A range of slots and the nodes that serve it, from `CLUSTER NODES`. */
export interface RedisClusterSlotRange {
  start: number;
  end: number;
  primary: RedisClusterNode;
  /** Replicas that are not marked failed. */
  replicas: RedisClusterNode[];
}

/** Options of {@link RedisClusterHandle.waitHealthy} and {@link RedisClusterHandle.waitForFailover}. */
export interface RedisClusterWaitOptions {
  /** Default 15 s. */
  timeoutMs?: number;
}

/** A Redis cluster started by {@link startRedisCluster}. */
export interface RedisClusterHandle {
  /**
   * Every node, named `redis-1` .. `redis-N`; the first `primaries` were made primaries by
   * `redis-cli --cluster create`, the rest their replicas (roles change on failover).
   */
  readonly nodes: RedisClusterNode[];
  /** URLs of every node, in order. */
  readonly urls: string[];
  /** The temp dir with every node's `nodes-<port>.conf`; removed by `stop()`. */
  readonly dir: string;
  /** Slot ranges and their nodes, as the first running node that answers sees them. */
  slots(): Promise<RedisClusterSlotRange[]>;
  /** `CLUSTER KEYSLOT key`. */
  keySlot(key: string): Promise<number>;
  /** The primary serving `slot` (see {@link RedisClusterHandle.slots}). */
  primaryForSlot(slot: number): Promise<RedisClusterNode>;
  /** The primary serving the slot of `key`. */
  primaryForKey(key: string): Promise<RedisClusterNode>;
  /** The nodes that serve slots, in slot order. */
  primaries(): Promise<RedisClusterNode[]>;
  /**
   * Waits until every running node says `cluster_state:ok` and `cluster_slots_ok:16384`,
   * all of them agree on which (running) primary serves each slot, none sees another
   * running node as failing or unknown, and every running replica's link to its primary is
   * up. Resolves with the ms it took; the error names what is missing and quotes the tail
   * of every node's log. After a primary was killed this is the wait for its failover;
   * after a `restart()`, the wait for the node to rejoin.
   */
  waitHealthy(options?: RedisClusterWaitOptions): Promise<number>;
  /**
   * After `killed` (a primary) was killed: waits until the cluster is healthy again with
   * another node serving the slots `killed` served at the last healthy check (the start or
   * a `waitHealthy()`), and resolves with that node and the ms the wait took.
   */
  waitForFailover(
    killed: RedisClusterNode,
    options?: RedisClusterWaitOptions,
  ): Promise<{ primary: RedisClusterNode; ms: number }>;
  /** The tail of every node's captured output, labelled, for failed-test reports. */
  output(): string;
  /** SIGKILLs every node (nothing is worth saving) and removes the temp dir. */
  stop(): Promise<void>;
  /** Same as {@link RedisClusterHandle.stop}. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of {@link startRedisCluster}. */
export interface StartRedisClusterOptions {
  /** Primaries, at least 3 (`redis-cli --cluster create` needs 3); default 3. */
  primaries?: number;
  /** Replicas per primary; default 0. */
  replicas?: number;
  /** `cluster-node-timeout`: how soon a silent node counts as failing; default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Extra redis-server arguments for every node. */
  args?: string[];
  /** Bound on the whole start (nodes, `--cluster create`, health); default 15 s. */
  timeoutMs?: number;
}

/** How much of each node's log an error quotes. */
const LOG_TAIL = 1500;

/** Every probe command of a health check gets this long. */
const PROBE_TIMEOUT_MS = 1000;

/**
 * Starts a real Redis cluster of `primaries * (1 + replicas)` redis-server processes on
 * free 127.0.0.1 ports (client and bus port each), persistence off, every node's cluster
 * config in one temp dir; joins them with `redis-cli --cluster create` and resolves once
 * every node says `cluster_state:ok` and serves all 16384 slots (see
 * {@link RedisClusterHandle.waitHealthy}). Processes only: needs `redis-server` and
 * `redis-cli` on PATH. A short `cluster-node-timeout` and `cluster-replica-validity-factor 0`
 * make a replica take over a killed primary within a few seconds. If any step fails, every
 * node is killed and the temp dir removed before the error is rethrown.
 *
 * @example
 * await using cluster = await startRedisCluster({ replicas: 1 });
 * const primary = await cluster.primaryForKey('room:1');
 * await primary.kill();
 * const { primary: promoted } = await cluster.waitForFailover(primary);
 */
export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterHandle> {
  const { primaries = 3, replicas = 0, nodeTimeoutMs = 1000, args = [] } = options;
  if (!Number.isInteger(primaries) || primaries < 3) {
    throw new Error(`startRedisCluster: primaries must be an integer >= 3, not ${primaries}`);
  }
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new Error(`startRedisCluster: replicas must be an integer >= 0, not ${replicas}`);
  }
  const server = findBinary('redis-server');
  const cli = findBinary('redis-cli');
  if (server === undefined || cli === undefined) {
    const missing = [server ? [] : ['redis-server'], cli ? [] : ['redis-cli']].flat();
    throw new Error(
      `startRedisCluster: ${missing.join(' and ')} not found on PATH (the cluster runs as processes): install redis-server (apt-get install redis-server, or https://redis.io/docs)`,
    );
  }
  const config = {
    server,
    cli,
    count: primaries * (1 + replicas),
    replicas,
    nodeTimeoutMs,
    args,
    timeoutMs: options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS,
  };
  return retryOnAddressInUse(() => startOnce(config));
}

interface ClusterConfig {
  server: string;
  cli: string;
  count: number;
  replicas: number;
  nodeTimeoutMs: number;
  args: readonly string[];
  timeoutMs: number;
}

/** One attempt on fresh ports; kills everything and removes the temp dir when it fails. */
async function startOnce(config: ClusterConfig): Promise<RedisClusterHandle> {
  const deadline = Date.now() + config.timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const dir = await makeTempDir('redis-cluster');
  let cluster: RedisCluster | undefined;
  try {
    const ports = await freePorts(config.count * 2);
    const nodes = Array.from(
      { length: config.count },
      (_, i) =>
        new ClusterNode({
          ...config,
          name: `redis-${i + 1}`,
          dir,
          port: ports[i * 2] as number,
          busPort: ports[i * 2 + 1] as number,
        }),
    );
    const started = new RedisCluster(nodes, dir);
    cluster = started;
    const results = await Promise.allSettled(nodes.map((node) => node.start()));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const create = ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`)];
    create.push('--cluster-replicas', String(config.replicas), '--cluster-yes');
    await runRedisCli(config.cli, create, left()).catch((err: unknown) => {
      throw new Error(`${err instanceof Error ? err.message : String(err)}${started.logTails()}`);
    });
    await started.waitHealthy({ timeoutMs: left() }, true);
    return started;
  } catch (err) {
    if (cluster) await cluster.stop();
    else await removeTempDir(dir);
    throw err;
  }
}

/** A redis-server cluster node: a {@link ProcessService} with cluster arguments. */
class ClusterNode extends ProcessService implements RedisClusterNode {
  readonly url: string;
  readonly port: number;
  readonly busPort: number;
  readonly #cli: string;
  #id = '';

  constructor(o: ClusterConfig & { name: string; dir: string; port: number; busPort: number }) {
    super({
      name: o.name,
      command: o.server,
      args: [
        '--port',
        String(o.port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        // An explicit bus port: the default, port + 10000, may be past 65535 or taken.
        '--cluster-port',
        String(o.busPort),
        '--cluster-config-file',
        join(o.dir, `nodes-${o.port}.conf`),
        '--cluster-node-timeout',
        String(o.nodeTimeoutMs),
        // A replica takes over however long it was cut off from its primary.
        '--cluster-replica-validity-factor',
        '0',
        // A replica syncs at once (the default waits 5 s for more replicas to join in).
        '--repl-diskless-sync-delay',
        '0',
        ...EPHEMERAL,
        // Replicas load a full sync straight from the socket: no RDB file, so a restarted
        // node never loads another node's data from the shared dir.
        '--repl-diskless-load',
        'swapdb',
        '--dbfilename',
        `dump-${o.port}.rdb`,
        '--dir',
        o.dir,
        ...o.args,
      ],
      readyWhat: `PING -> +PONG on 127.0.0.1:${o.port} from our pid`,
      ready: async (pid) => (await redisServerPid('127.0.0.1', o.port)) === pid,
      timeoutMs: o.timeoutMs,
    });
    this.url = `redis://127.0.0.1:${o.port}`;
    this.port = o.port;
    this.busPort = o.busPort;
    this.#cli = o.cli;
  }

  get id(): string {
    return this.#id;
  }

  override async start(): Promise<void> {
    await super.start();
    try {
      this.#id = String(await this.command('CLUSTER', 'MYID'));
    } catch (err) {
      await this.kill();
      throw err;
    }
  }

  async role(): Promise<RedisClusterRole> {
    const reply = await this.command('ROLE');
    return Array.isArray(reply) && reply[0] === 'master' ? 'primary' : 'replica';
  }

  command(...args: (string | number)[]): Promise<RespValue> {
    return redisCommand('127.0.0.1', this.port, args, PROBE_TIMEOUT_MS);
  }

  async cli(...args: (string | number)[]): Promise<string> {
    const argv = ['-c', '-h', '127.0.0.1', '-p', String(this.port), ...args.map(String)];
    return (await runRedisCli(this.#cli, argv, 5_000)).replace(/\n$/, '');
  }
}

/** Slot ranges with the port of the primary serving each; what the nodes must agree on. */
type SlotView = { start: number; end: number; primaryPort: number; replicaPorts: number[] }[];

class RedisCluster implements RedisClusterHandle {
  readonly urls: string[];
  /** Slot owners at the last healthy check, for {@link RedisCluster.waitForFailover}. */
  #lastHealthy: SlotView = [];

  constructor(
    readonly nodes: ClusterNode[],
    readonly dir: string,
  ) {
    this.urls = nodes.map((node) => node.url);
  }

  async slots(): Promise<RedisClusterSlotRange[]> {
    let lastError: unknown = new Error('no node is running');
    for (const node of this.nodes.filter((each) => each.running)) {
      try {
        return this.#resolve(slotView(clusterNodes(await node.command('CLUSTER', 'NODES'))));
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async keySlot(key: string): Promise<number> {
    let lastError: unknown = new Error('no node is running');
    for (const node of this.nodes.filter((each) => each.running)) {
      try {
        return Number(await node.command('CLUSTER', 'KEYSLOT', key));
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  async primaryForSlot(slot: number): Promise<RedisClusterNode> {
    const range = (await this.slots()).find((each) => each.start <= slot && slot <= each.end);
    if (!range) throw new Error(`redis cluster: no node serves slot ${slot}`);
    return range.primary;
  }

  async primaryForKey(key: string): Promise<RedisClusterNode> {
    return this.primaryForSlot(await this.keySlot(key));
  }

  async primaries(): Promise<RedisClusterNode[]> {
    return [...new Set((await this.slots()).map((range) => range.primary))];
  }

  /** `failFast`: give up at once when a node exits (while starting, none may). */
  async waitHealthy(options: RedisClusterWaitOptions = {}, failFast = false): Promise<number> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
    let exited: ClusterNode | undefined;
    let view: SlotView = [];
    const what = 'a healthy redis cluster';
    try {
      const ms = await eventually(
        async () => {
          exited = failFast ? this.nodes.find((node) => !node.running) : undefined;
          if (exited) return true;
          const found = await this.#check();
          if (typeof found === 'string') throw new Error(found);
          view = found;
          return true;
        },
        { timeoutMs, what, everyMs: 50 },
      );
      if (exited) {
        throw new Error(
          `redis cluster: ${exited.name} exited while the cluster was forming${this.logTails()}`,
        );
      }
      this.#lastHealthy = view;
      return ms;
    } catch (err) {
      if (exited) throw err;
      // eventually's message says what timed out and, from the last check, what was missing.
      const message = (err instanceof Error ? err.message : String(err)).replace(
        '; the check last threw: Error: ',
        '; missing: ',
      );
      throw new Error(`${message}${this.logTails()}`);
    }
  }

  async waitForFailover(
    killed: RedisClusterNode,
    options: RedisClusterWaitOptions = {},
  ): Promise<{ primary: RedisClusterNode; ms: number }> {
    if (killed.running) {
      throw new Error(`waitForFailover: ${killed.name} is still running; kill it first`);
    }
    const served = this.#lastHealthy.find((range) => range.primaryPort === killed.port);
    if (!served) {
      throw new Error(
        `waitForFailover: ${killed.name} served no slots at the last healthy check (it was no primary)`,
      );
    }
    const ms = await this.waitHealthy(options);
    const now = this.#lastHealthy.find((range) => range.start === served.start);
    const primary = this.nodes.find((node) => node.port === now?.primaryPort);
    if (!primary) throw new Error(`waitForFailover: nobody took over slot ${served.start}`);
    return { primary, ms };
  }

  output(): string {
    return this.nodes.map((node) => `--- ${node.name}\n${node.output()}`).join('\n');
  }

  /** `; logs: ...` with the last {@link LOG_TAIL} chars of every node's output. */
  logTails(): string {
    const tails = this.nodes.map((node) => {
      const text = node.output().trimEnd();
      const tail = text.length > LOG_TAIL ? `...${text.slice(-LOG_TAIL)}` : text;
      return `--- ${node.name} (127.0.0.1:${node.port})\n${tail}`;
    });
    return tails.length === 0 ? '' : `; logs:\n${tails.join('\n')}`;
  }

  async stop(): Promise<void> {
    // SIGKILL at once: a SIGTERMed primary may wait for its replicas to catch up first.
    await Promise.all(this.nodes.map((node) => node.kill()));
    await disposeAll(this.nodes);
    await removeTempDir(this.dir);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  /** The agreed slot view when the cluster is healthy, else what is wrong, in one line. */
  async #check(): Promise<SlotView | string> {
    const running = this.nodes.filter((node) => node.running);
    if (running.length === 0) return 'no node is running';
    const runningPorts = new Set(running.map((node) => node.port));
    const problems: string[] = [];
    const views = await Promise.all(
      running.map(async (node) => {
        try {
          return { node, ...(await this.#inspect(node, running, problems)) };
        } catch (err) {
          problems.push(`${node.name}: ${err instanceof Error ? err.message : String(err)}`);
          return undefined;
        }
      }),
    );
    const [first, ...others] = views.filter((each) => each !== undefined);
    if (first) {
      for (const other of others) {
        if (other.key !== first.key) {
          problems.push(`${other.node.name} and ${first.node.name} disagree on the slot owners`);
        }
      }
      for (const range of first.view) {
        if (!runningPorts.has(range.primaryPort)) {
          problems.push(`slots ${range.start}-${range.end} are served by a stopped node`);
        }
      }
    }
    if (problems.length > 0 || !first) return problems.join('; ');
    return first.view;
  }

  /** One node's view; pushes what is wrong with it onto `problems`. */
  async #inspect(node: ClusterNode, running: readonly ClusterNode[], problems: string[]) {
    const [info, known, role] = await Promise.all([
      node.command('CLUSTER', 'INFO'),
      node.command('CLUSTER', 'NODES'),
      node.command('ROLE'),
    ]);
    const fields = new Map(
      String(info)
        .split('\r\n')
        .map((line) => line.split(':') as [string, string]),
    );
    const state = fields.get('cluster_state');
    const slotsOk = fields.get('cluster_slots_ok');
    if (state !== 'ok') problems.push(`${node.name}: cluster_state:${state}`);
    if (slotsOk !== String(REDIS_CLUSTER_SLOTS)) {
      problems.push(`${node.name}: cluster_slots_ok:${slotsOk}`);
    }
    const entries = clusterNodes(known);
    for (const other of running) {
      const entry = entries.find((each) => each.id === other.id);
      if (entry === undefined) problems.push(`${node.name} does not know ${other.name}`);
      else if (/fail|handshake|noaddr/.test(entry.flags)) {
        problems.push(`${node.name} sees ${other.name} as ${entry.flags}`);
      }
    }
    // A replica's ROLE: ['slave', masterIp, masterPort, linkState, offset].
    if (Array.isArray(role) && role[0] === 'slave' && role[3] !== 'connected') {
      problems.push(`${node.name}: replica link to :${String(role[2])} is ${String(role[3])}`);
    }
    const view = slotView(entries);
    return { view, key: JSON.stringify(view) };
  }

  #resolve(view: SlotView): RedisClusterSlotRange[] {
    const byPort = (port: number) => {
      const node = this.nodes.find((each) => each.port === port);
      if (!node) throw new Error(`redis cluster: port ${port} in CLUSTER NODES is none of ours`);
      return node;
    };
    return view.map((range) => ({
      start: range.start,
      end: range.end,
      primary: byPort(range.primaryPort),
      replicas: range.replicaPorts.map(byPort),
    }));
  }
}

/** One line of `CLUSTER NODES`. */
interface NodeEntry {
  id: string;
  port: number;
  flags: string;
  /** Id of the primary of a replica; `-` for a primary. */
  primaryId: string;
  /** Slot ranges served, `[start, end]`. */
  slots: [number, number][];
}

/**
 * `CLUSTER NODES`: `<id> <ip:port@bus[,hostname]> <flags> <primary> <ping> <pong> <epoch>
 * <link> <slot> <slot> ...`, a slot being `a-b` or `a` (`[...]` entries are migrations).
 */
function clusterNodes(reply: RespValue): NodeEntry[] {
  return String(reply)
    .trim()
    .split('\n')
    .map((line) => {
      const [id = '', address = '', flags = '', primaryId = '', ...rest] = line.trim().split(' ');
      const slots = rest
        .slice(4)
        .filter((token) => !token.startsWith('['))
        .map((token) => {
          const [start, end = start] = token.split('-').map(Number) as [number, number?];
          return [start, end] as [number, number];
        });
      const port = Number(address.split('@')[0]?.split(':').pop());
      return { id, port, flags, primaryId, slots };
    });
}

/**
 * Slot ranges, sorted, each with the port of its primary and of its replicas that are not
 * marked failed: what {@link RedisCluster.waitHealthy} asks every node to agree on.
 */
function slotView(entries: readonly NodeEntry[]): SlotView {
  const view: SlotView = [];
  for (const primary of entries) {
    const replicaPorts = entries
      .filter((each) => each.primaryId === primary.id && !each.flags.includes('fail'))
      .map((each) => each.port)
      .sort((a, b) => a - b);
    for (const [start, end] of primary.slots) {
      view.push({ start, end, primaryPort: primary.port, replicaPorts });
    }
  }
  return view.sort((a, b) => a.start - b.start);
}

/**
 * Runs redis-cli with `args`, SIGKILLed after `timeoutMs` (tracked, so it dies with the
 * test process too); resolves with its stdout, rejects naming the command with its output.
 */
function runRedisCli(cli: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cli,
      [...args],
      { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        const why = err.killed ? `no result in ${timeoutMs} ms` : `exit code ${String(err.code)}`;
        const output = `${stdout}${stderr}`.trim();
        const tail = output.length > 4096 ? `...${output.slice(-4096)}` : output;
        reject(
          new Error(
            `redis-cli ${args.join(' ')} failed (${why})${tail === '' ? '' : `; output:\n${tail}`}`,
          ),
        );
      },
    );
    if (child.pid !== undefined) trackChild(child);
  });
}
