/** {@link RedisCluster}: the handle of a running cluster, its health check included. */
import { removeTempDir } from './child-registry.js';
import { disposeAll } from './dispose-all.js';
import { eventually } from './eventually.js';
import type { ClusterNode } from './redis-cluster-node.js';
import { clusterNodes, slotView, type SlotView } from './redis-cluster-slots.js';
import {
  REDIS_CLUSTER_SLOTS,
  type RedisClusterHandle,
  type RedisClusterNode,
  type RedisClusterSlotRange,
  type RedisClusterWaitOptions,
} from './redis-cluster-types.js';
import { DEFAULT_READY_TIMEOUT_MS } from './service-handle.js';

/** How much of each node's log an error quotes. */
const LOG_TAIL = 1500;

/**
 * The {@link RedisClusterHandle} of {@link startRedisCluster}: slot lookups, the health
 * check and failover wait, log tails and stop.
 */
export class RedisCluster implements RedisClusterHandle {
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
