import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chooseRuntime, missingBinaryMessage } from './choose-runtime.js';
import { dockerAvailable } from './docker-available.js';
import { findBinary } from './find-binary.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rf-testkit-bin-'));
  await writeFile(join(dir, 'fake-server'), '#!/bin/sh\n');
  await chmod(join(dir, 'fake-server'), 0o755);
  await writeFile(join(dir, 'not-executable'), '');
});
afterAll(() => rm(dir, { recursive: true }));

const yes = async () => true;
const no = async () => false;

describe('findBinary', () => {
  it('finds an executable in PATH and skips non-executables and missing names', () => {
    const path = ['/nonexistent', dir].join(delimiter);
    expect(findBinary('fake-server', path)).toBe(join(dir, 'fake-server'));
    expect(findBinary('not-executable', path)).toBeUndefined();
    expect(findBinary('fake-server', '')).toBeUndefined();
  });
});

describe('chooseRuntime', () => {
  it('prefers the binary on PATH without asking Docker', async () => {
    const docker = () => Promise.reject(new Error('must not be asked'));
    await expect(
      chooseRuntime('fake-server', { pathEnv: dir, dockerAvailable: docker, runtime: 'auto' }),
    ).resolves.toEqual({ kind: 'process', path: join(dir, 'fake-server') });
  });

  it('falls back to Docker when the binary is missing and an engine answers', async () => {
    await expect(
      chooseRuntime('nats-server', { pathEnv: dir, dockerAvailable: yes, runtime: 'auto' }),
    ).resolves.toEqual({ kind: 'docker' });
  });

  it('throws one line with install hints when neither is available', async () => {
    const choice = chooseRuntime('nats-server', { pathEnv: dir, dockerAvailable: no });
    await expect(choice).rejects.toThrow(missingBinaryMessage('nats-server'));
    expect(missingBinaryMessage('nats-server')).toBe(
      'nats-server not found on PATH and no Docker engine answered: install nats-server (apt-get install nats-server, or https://docs.nats.io) or start Docker',
    );
    expect(missingBinaryMessage('redis-server')).toMatch(
      /^redis-server not found on PATH and no Docker engine answered: install redis-server .* or start Docker$/,
    );
    expect(missingBinaryMessage('redis-server')).not.toContain('\n');
  });

  it('honours an explicit runtime', async () => {
    const path = { pathEnv: dir };
    await expect(
      chooseRuntime('fake-server', { ...path, runtime: 'docker', dockerAvailable: yes }),
    ).resolves.toEqual({ kind: 'docker' });
    await expect(
      chooseRuntime('fake-server', { ...path, runtime: 'docker', dockerAvailable: no }),
    ).rejects.toThrow(/^no Docker engine answered \(runtime 'docker' was asked for fake-server\)$/);
    await expect(
      chooseRuntime('nats-server', { ...path, runtime: 'process', dockerAvailable: yes }),
    ).rejects.toThrow(/^nats-server not found on PATH \(runtime 'process' was asked for\)$/);
  });

  it('reads RF_TESTKIT_RUNTIME and rejects unknown values', async () => {
    const saved = process.env.RF_TESTKIT_RUNTIME;
    try {
      process.env.RF_TESTKIT_RUNTIME = 'docker';
      await expect(
        chooseRuntime('fake-server', { pathEnv: dir, dockerAvailable: yes }),
      ).resolves.toEqual({ kind: 'docker' });
      process.env.RF_TESTKIT_RUNTIME = 'kubernetes';
      await expect(chooseRuntime('fake-server', { pathEnv: dir })).rejects.toThrow(
        /RF_TESTKIT_RUNTIME must be auto, process or docker/,
      );
    } finally {
      if (saved === undefined) delete process.env.RF_TESTKIT_RUNTIME;
      else process.env.RF_TESTKIT_RUNTIME = saved;
    }
  });
});

describe('dockerAvailable', () => {
  it('is true when the probe answers and false when it fails or hangs', async () => {
    await expect(dockerAvailable({ probe: async () => ({}) })).resolves.toBe(true);
    await expect(
      dockerAvailable({ probe: () => Promise.reject(new Error('no socket')) }),
    ).resolves.toBe(false);
    await expect(
      dockerAvailable({
        probe: () => {
          throw new Error('sync');
        },
      }),
    ).resolves.toBe(false);
    const started = Date.now();
    await expect(
      dockerAvailable({ probe: () => new Promise(() => {}), timeoutMs: 100 }),
    ).resolves.toBe(false);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers for the real engine without throwing, and caches the answer', async () => {
    const first = dockerAvailable();
    expect(dockerAvailable()).toBe(first);
    expect(typeof (await first)).toBe('boolean');
  });
});
