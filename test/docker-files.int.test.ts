import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LISTEN_BACKLOG } from '@roomfabric/edge';
import { describe, expect, it } from 'vitest';

// No Docker engine runs where CI does, so this checks docker/ with what is here: the
// compose file parses, every roomfabric command and flag in it is accepted by the built CLI,
// the services wire together, each process has its own NATS user, and HAProxy's and
// nats-server's own checkers accept their configs. (test/security/nats-permissions.int.test.ts
// runs the fabric on a nats-server with docker/nats.conf.)
const root = fileURLToPath(new URL('..', import.meta.url));
const at = (path: string) => `${root}${path}`;
const bin = at('packages/cli/dist/bin.js');

interface Service {
  image?: string;
  environment?: Record<string, string>;
  build?: { context: string; dockerfile: string };
  command?: string[];
  profiles?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
  sysctls?: Record<string, number>;
}

function loadYaml(path: string): unknown {
  const script = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  return JSON.parse(execFileSync('python3', ['-c', script, path], { encoding: 'utf8' }));
}

const yamlReason = (() => {
  const probe = spawnSync('python3', ['-c', 'import yaml'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : 'python3 with PyYAML is not available';
})();
if (yamlReason) console.log(`skipping the compose checks: ${yamlReason}`);
const haproxyReason = spawnSync('haproxy', ['-v']).error
  ? 'haproxy is not installed (apt-get install haproxy)'
  : undefined;
if (haproxyReason) console.log(`skipping the HAProxy config check: ${haproxyReason}`);
const natsReason = spawnSync('nats-server', ['--version']).error
  ? 'nats-server is not installed'
  : undefined;
if (natsReason) console.log(`skipping the nats-server config check: ${natsReason}`);

/** Variables of docker/.env.example, each given a stand-in value (the file leaves them empty). */
const envExample = new Map(
  readFileSync(at('docker/.env.example'), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z0-9_]+=/.test(line))
    .map((line) => {
      const name = line.slice(0, line.indexOf('='));
      return [name, `p0${name.toLowerCase().replace(/_/g, '')}`] as const;
    }),
);

/** Names of the `${VAR}` (also `${VAR:?message}`, `${VAR:-default}`) that `text` uses. */
const composeVars = (text: string) =>
  [...text.matchAll(/\$\{([A-Za-z0-9_]+)(?::?[-?][^}]*)?\}/g)].map((m) => m[1]!);

/** `text` with compose's `${...}` replaced by the stand-in values of docker/.env.example. */
const interpolate = (text: string) =>
  text.replace(/\$\{([A-Za-z0-9_]+)(?::?[-?][^}]*)?\}/g, (_, name: string) => {
    const value = envExample.get(name);
    if (value === undefined) throw new Error(`\${${name}} is not in docker/.env.example`);
    return value;
  });

/** The password variable of a NATS user in docker/nats.conf, by user name. */
const natsUsers = new Map(
  [
    ...readFileSync(at('docker/nats.conf'), 'utf8').matchAll(
      /\buser\s*[=:]\s*(\w+)\s*,\s*password\s*[=:]\s*\$(\w+)/g,
    ),
  ].map((m) => [m[1]!, m[2]!] as const),
);

/** The value after `flag` in a command line. */
const flag = (command: string[], name: string) => {
  const i = command.indexOf(name);
  return i < 0 ? undefined : command[i + 1];
};

describe.skipIf(yamlReason !== undefined)('docker/docker-compose.yml', () => {
  const compose = loadYaml(at('docker/docker-compose.yml')) as {
    services: Record<string, Service>;
  };
  const services = compose.services;
  const roomfabric = Object.entries(services).filter(([, s]) => s.image === 'roomfabric:local');
  const natsUrls = (user: string, variable: string) =>
    ['nats-1', 'nats-2', 'nats-3'].map((n) => `nats://${user}:\${${variable}}@${n}:4222`).join(',');

  it('has the whole cluster, each service with a health check', () => {
    for (const name of ['nats-1', 'nats-2', 'nats-3', 'redis', 'membership', 'haproxy']) {
      expect(services[name], name).toBeDefined();
    }
    for (const name of ['edge-1', 'edge-2', 'edge-3']) expect(services[name], name).toBeDefined();
    expect(services.membership!.deploy?.replicas).toBe(2);
    for (const [name, service] of Object.entries(services)) {
      expect(service.healthcheck?.test.length, `${name} has a health check`).toBeGreaterThan(1);
    }
  });

  it('gives every edge an accept queue as long as the one it listens with', () => {
    const edges = roomfabric.filter(([, s]) => s.command?.[0] === 'edge');
    expect(edges.map(([name]) => name).sort()).toEqual(['edge', 'edge-1', 'edge-2', 'edge-3']);
    for (const [name, service] of edges) {
      expect(service.sysctls?.['net.core.somaxconn'], name).toBeGreaterThanOrEqual(LISTEN_BACKLOG);
      expect(service.sysctls?.['net.ipv4.tcp_max_syn_backlog'], name).toBeGreaterThanOrEqual(
        LISTEN_BACKLOG,
      );
    }
  });

  it('clusters the three NATS servers with full routes and a monitoring port', () => {
    const route = (n: string) => `nats://route:\${RF_NATS_ROUTE_PASSWORD}@${n}:6222`;
    for (const name of ['nats-1', 'nats-2', 'nats-3']) {
      const args = services[name]!.command!;
      expect(args).toContain(`--name=${name}`);
      expect(args).toContain('--cluster_name=roomfabric');
      expect(args).toContain('--http_port=8222');
      expect(args).toContain(`--routes=${['nats-1', 'nats-2', 'nats-3'].map(route).join(',')}`);
      // Routes authenticate: the cluster port takes only the route user.
      expect(args).toContain(
        '--cluster=nats://route:${RF_NATS_ROUTE_PASSWORD:?set it in docker/.env}@0.0.0.0:6222',
      );
      expect(services[name]!.healthcheck!.test.join(' ')).toContain(':8222/healthz');
    }
  });

  it('loads docker/nats.conf in every NATS server, with every password it needs', () => {
    const conf = readFileSync(at('docker/nats.conf'), 'utf8');
    const needed = [...conf.matchAll(/password = \$(\w+)/g)].map((m) => m[1]!);
    expect(needed.length).toBe(4);
    for (const name of ['nats-1', 'nats-2', 'nats-3']) {
      const service = services[name]!;
      expect(service.command).toContain('--config=/etc/nats/roomfabric.conf');
      expect(service.volumes).toContain('./nats.conf:/etc/nats/roomfabric.conf:ro');
      for (const variable of needed) {
        // Passed through, and compose refuses to start without it.
        expect(service.environment?.[variable], `${name}: ${variable}`).toBe(
          `\${${variable}:?set it in docker/.env}`,
        );
      }
    }
  });

  it('gives every variable it uses a line in docker/.env.example, and keeps docker/.env out of git', () => {
    const used = new Set(composeVars(readFileSync(at('docker/docker-compose.yml'), 'utf8')));
    expect([...used].sort()).toEqual([...envExample.keys()].sort());
    expect(readFileSync(at('docker/.gitignore'), 'utf8').split('\n')).toContain('.env');
    // Nor can it reach the image: the build context leaves docker/ out.
    expect(readFileSync(at('docker/Dockerfile.dockerignore'), 'utf8').split('\n')).toContain(
      'docker',
    );
  });

  it('builds every roomfabric service from docker/Dockerfile', () => {
    expect(roomfabric.length).toBeGreaterThanOrEqual(4);
    for (const [name, service] of roomfabric) {
      expect(service.build, name).toEqual({ context: '..', dockerfile: 'docker/Dockerfile' });
    }
  });

  it('runs only commands and flags the CLI accepts', () => {
    for (const [name, service] of roomfabric) {
      const command = service.command!;
      const run = spawnSync(process.execPath, [bin, ...command, '--help'], { encoding: 'utf8' });
      expect(run.stderr, `${name}: ${command.join(' ')}`).toBe('');
      expect(run.status, `${name}: ${command.join(' ')}`).toBe(0);
      expect(run.stdout).toContain(`Usage: roomfabric ${command[0]}`);
    }
    // The check has teeth: an unknown flag is a usage error even with --help.
    const bad = spawnSync(process.execPath, [bin, 'edge', '--no-such-flag', '--help'], {
      encoding: 'utf8',
    });
    expect(bad.status).toBe(2);
  });

  it('points every roomfabric process at all NATS servers as its own user, and at Redis, health on its port', () => {
    const nodeIds = new Set<string>();
    for (const [name, service] of roomfabric) {
      const command = service.command!;
      // The edge user for edges, the membership user for the service (docker/nats.conf).
      const user = command[0]!;
      const variable = natsUsers.get(user);
      expect(variable, `${name}: a user "${user}" in docker/nats.conf`).toBeDefined();
      expect(flag(command, '--nats'), name).toBe(natsUrls(user, variable!));
      // Once compose put the password in, each is a URL the CLI takes, carrying it.
      for (const url of interpolate(flag(command, '--nats')!).split(',')) {
        const parsed = new URL(url);
        expect([parsed.protocol, parsed.username, parsed.password], name).toEqual([
          'nats:',
          user,
          envExample.get(variable!),
        ]);
      }
      expect(flag(command, '--redis'), name).toBe('redis://redis:6379');
      expect(flag(command, '--host'), name).toBe('0.0.0.0');
      const port = flag(command, '--port');
      expect(port, name).toMatch(/^\d+$/);
      expect(service.healthcheck!.test.join(' '), name).toContain(`127.0.0.1:${port}/readyz`);
      const deps = service.depends_on as Record<string, { condition: string }>;
      for (const dep of ['nats-1', 'nats-2', 'nats-3', 'redis']) {
        expect(deps[dep]?.condition, `${name} waits for ${dep}`).toBe('service_healthy');
      }
      if (command[0] === 'edge') {
        expect(command).toContain('--demo');
        const id = flag(command, '--node-id');
        if (name.startsWith('edge-')) {
          expect(id, name).toBe(name);
          expect(nodeIds.has(id!)).toBe(false);
          nodeIds.add(id!);
        }
      }
    }
    expect(nodeIds.size).toBe(3);
  });

  it('puts every edge behind HAProxy, health-checked on /readyz', () => {
    const cfg = readFileSync(at('docker/haproxy.cfg'), 'utf8');
    expect(services.haproxy!.volumes).toContain(
      './haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro',
    );
    expect(cfg).toMatch(/http-check send meth GET uri \/readyz/);
    expect(cfg).toMatch(/timeout tunnel \S+/);
    expect(cfg).not.toMatch(/^\s*option http-server-close/m);
    for (const [name] of roomfabric.filter(([n]) => n.startsWith('edge-'))) {
      expect(cfg).toMatch(new RegExp(`^\\s*server ${name} ${name}:3000\\b`, 'm'));
    }
    if (services.edge) expect(cfg).toMatch(/^\s*server-template \S+ \S+ edge:3000\b/m);
    const prometheus = readFileSync(at('docker/prometheus.yml'), 'utf8');
    expect(prometheus).toContain("'edge-1:3000', 'edge-2:3000', 'edge-3:3000'");
  });
});

describe('docker/haproxy.cfg', () => {
  it.skipIf(haproxyReason !== undefined)('passes haproxy -c', () => {
    const check = spawnSync('haproxy', ['-c', '-f', at('docker/haproxy.cfg')], {
      encoding: 'utf8',
    });
    const output = `${check.stdout}${check.stderr}`;
    expect(output).toContain('Configuration file is valid');
    expect(check.status, output).toBe(0);
    // Only the expected warnings: edge host names resolve inside Docker, not here.
    const warnings = output.split('\n').filter((l) => l.includes('[WARNING]'));
    for (const line of warnings) expect(line).toMatch(/could not resolve address/);
  });
});

describe.skipIf(yamlReason !== undefined || natsReason !== undefined)('docker/nats.conf', () => {
  const compose = yamlReason
    ? { services: {} }
    : (loadYaml(at('docker/docker-compose.yml')) as { services: Record<string, Service> });

  /** A NATS service's command line and environment as compose runs it, on this machine. */
  const natsCommand = (name: string) => {
    const service = compose.services[name]!;
    const mount = service.volumes!.find((v) => v.startsWith('./nats.conf:'))!;
    const inContainer = mount.split(':')[1]!;
    const args = service.command!.map((arg) =>
      interpolate(arg.replace(`=${inContainer}`, `=${at('docker/nats.conf')}`)),
    );
    const env = Object.fromEntries(
      Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(v)]),
    );
    return { args, env };
  };

  it('passes nats-server -t with the command line of each NATS service', () => {
    for (const name of ['nats-1', 'nats-2', 'nats-3']) {
      const { args, env } = natsCommand(name);
      expect(args).toContain(`--config=${at('docker/nats.conf')}`);
      const check = spawnSync('nats-server', ['-t', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...env },
      });
      const output = `${check.stdout}${check.stderr}`;
      // -t exits 0 even on a bad flag (it prints the usage): read what it says.
      expect(output, name).toMatch(/configuration file \S+nats\.conf is valid/);
      expect(output, name).not.toMatch(/flag provided but not defined|Usage:/);
      expect(check.status, output).toBe(0);
    }
  });

  it('makes nats-server refuse to start while a password is missing', () => {
    const { args, env } = natsCommand('nats-1');
    for (const missing of Object.keys(env)) {
      const rest = Object.fromEntries(Object.entries(env).filter(([k]) => k !== missing));
      const check = spawnSync('nats-server', ['-t', ...args], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, ...rest },
      });
      expect(`${check.stdout}${check.stderr}`).toMatch(
        new RegExp(`variable reference for '${missing}'.*(can ?not|could not) be found`),
      );
      expect(check.status).not.toBe(0);
    }
  });
});

describe('docker/Dockerfile', () => {
  const dockerfile = readFileSync(at('docker/Dockerfile'), 'utf8');

  it('is a multi-stage build on node:20-bookworm-slim running the CLI', () => {
    expect(dockerfile).toMatch(/^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
    expect(dockerfile.match(/^FROM \$\{NODE_IMAGE\}/gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/RUN npm ci\b/);
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    expect(dockerfile).toContain('ENTRYPOINT ["node", "packages/cli/dist/bin.js"]');
    expect(existsSync(bin)).toBe(true);
  });

  it('copies the manifest of every workspace package before npm ci', () => {
    for (const pkg of readdirSync(at('packages'))) {
      if (!existsSync(at(`packages/${pkg}/package.json`))) continue;
      expect(dockerfile).toContain(`COPY packages/${pkg}/package.json packages/${pkg}/`);
    }
  });
});
