/**
 * One redis-server of a cluster: {@link ClusterNode}, the process with its cluster
 * arguments, and {@link runRedisCli}, which runs redis-cli (a node's `cli()`, and
 * `--cluster create` at the start).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { trackChild } from './child-registry.js';
import { ProcessService } from './process-service.js';
import { redisServerPid } from './probes.js';
import type { RedisClusterNode, RedisClusterRole } from './redis-cluster-types.js';
import { redisCommand, type RespValue } from './resp.js';
import { EPHEMERAL } from './start-redis.js';

/** Every probe command of a health check gets this long. */
const PROBE_TIMEOUT_MS = 1000;

/** What {@link startRedisCluster} builds every node from. */
export interface ClusterConfig {
  server: string;
  cli: string;
  count: number;
  replicas: number;
  nodeTimeoutMs: number;
  args: readonly string[];
  timeoutMs: number;
}

/** A redis-server cluster node: a {@link ProcessService} with cluster arguments. */
export class ClusterNode extends ProcessService implements RedisClusterNode {
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

/**
 * Runs redis-cli with `args`, SIGKILLed after `timeoutMs` (tracked, so it dies with the
 * test process too); resolves with its stdout, rejects naming the command with its output.
 */
export function runRedisCli(
  cli: string,
  args: readonly string[],
  timeoutMs: number,
): Promise<string> {
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
