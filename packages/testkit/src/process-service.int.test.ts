import { describe, expect, it } from 'vitest';
import { killAllChildren, liveChildCount } from './child-registry.js';
import { ProcessService, type ProcessSpec } from './process-service.js';

/** A Node child running `script`; `ready` never answers unless given. */
function node(script: string, spec: Partial<ProcessSpec> = {}): ProcessService {
  return new ProcessService({
    name: 'child',
    command: process.execPath,
    args: ['-e', script],
    readyWhat: 'nothing',
    ready: async () => false,
    ...spec,
  });
}

const LINGER = 'setInterval(() => {}, 1000);';

describe('ProcessService', () => {
  it('fails fast with the exit code and the output when the child exits early', async () => {
    await using child = node('console.log("bad config"); console.error("boom"); process.exit(3)');
    await expect(child.start()).rejects.toThrow(
      /^child exited before it was ready \(exit code 3\) while waiting for nothing; output:\n[\s\S]*bad config\nboom/,
    );
    expect(child.running).toBe(false);
  });

  it('reports a spawn failure (missing executable) as an early exit', async () => {
    await using child = new ProcessService({
      name: 'ghost',
      command: '/nonexistent/rf-testkit-binary',
      args: [],
      readyWhat: 'nothing',
      ready: async () => true,
    });
    await expect(child.start()).rejects.toThrow(
      /^ghost exited before it was ready \(spawn .*ENOENT\)/,
    );
  });

  it('times out, kills the child and quotes its output', async () => {
    const before = liveChildCount();
    await using child = node(`console.log("still booting"); ${LINGER}`, { timeoutMs: 300 });
    await expect(child.start()).rejects.toThrow(
      /^child was not ready after 300 ms \(nothing\); output:[\s\S]*still booting/,
    );
    expect(child.running).toBe(false);
    expect(liveChildCount()).toBe(before);
  });

  it('is ready on a stdout line even when it arrives split across chunks', async () => {
    await using child = node(
      `process.stdout.write("svc: rea"); setTimeout(() => process.stdout.write("dy\\n"), 100); ${LINGER}`,
      { ready: undefined, readyText: 'svc: ready' },
    );
    await child.start();
    expect(child.running).toBe(true);
    expect(child.output()).toContain('svc: ready');
  });

  it('kill() sends the given signal and resolves once the child has exited', async () => {
    await using child = node(LINGER, { ready: async () => true });
    await child.start();
    const pid = child.pid as number;
    await child.kill('SIGINT');
    expect(child.running).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    expect(child.output()).toContain('signal SIGINT');
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    await using child = node(`process.on("SIGTERM", () => {}); console.log("up"); ${LINGER}`, {
      ready: undefined,
      readyText: 'up',
      stopGraceMs: 200,
    });
    await child.start();
    await child.stop();
    expect(child.output()).toContain('signal SIGKILL');
  });

  it('refuses to start again once disposed', async () => {
    const child = node(LINGER, { ready: async () => true });
    await child.start();
    await child[Symbol.asyncDispose]();
    await expect(child.restart()).rejects.toThrow(/disposed/);
  });

  it('kills every live child from the exit hook', async () => {
    const child = node(LINGER, { ready: async () => true });
    await child.start();
    const pid = child.pid as number;
    expect(process.listeners('exit')).toContain(killAllChildren);
    killAllChildren();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(child.running).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
