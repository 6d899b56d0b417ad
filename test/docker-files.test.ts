import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// No Docker engine runs where CI does, so this checks docker/ with what is here: the
// compose file parses, every roomfabric command and flag in it is accepted by the built CLI,
// the services wire together, and HAProxy's own checker accepts its config.
const root = fileURLToPath(new URL('..', import.meta.url));
const at = (path: string) => `${root}${path}`;
const bin = at('packages/cli/dist/bin.js');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  profiles?: string[];
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] };
  volumes?: string[];
  ports?: string[];
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
  const natsUrls = ['nats-1', 'nats-2', 'nats-3'].map((n) => `nats://${n}:4222`).join(',');

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

  it('clusters the three NATS servers with full routes and a monitoring port', () => {
    for (const name of ['nats-1', 'nats-2', 'nats-3']) {
      const args = services[name]!.command!;
      expect(args).toContain(`--name=${name}`);
      expect(args).toContain('--cluster_name=roomfabric');
      expect(args).toContain('--http_port=8222');
      expect(args).toContain('--routes=nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222');
      expect(services[name]!.healthcheck!.test.join(' ')).toContain(':8222/healthz');
    }
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

  it('points every roomfabric process at all NATS servers and at Redis, health on its port', () => {
    const nodeIds = new Set<string>();
    for (const [name, service] of roomfabric) {
      const command = service.command!;
      expect(flag(command, '--nats'), name).toBe(natsUrls);
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
