/*
 * `roomfabric scaling` writes its chart to ./scaling.svg in the current directory by
 * default, never over the git-tracked docs/scaling.svg (that takes `--out docs/scaling.svg`).
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitWithin, runCli } from './cli-process.js';

describe('roomfabric scaling --out', () => {
  it('defaults to ./scaling.svg in the current directory', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'rf-scaling-'));
    const tiny = ['--edges', '1', '--clients', '2', '--rooms', '1', '--messages', '20'];
    const run = runCli(['scaling', ...tiny, '--repeat', '1'], { cwd });
    expect(await exitWithin(run, 60_000), run.output()).toBe(0);
    expect(run.stdout()).toContain(`chart written to ${join(cwd, 'scaling.svg')}`);
    expect(readFileSync(join(cwd, 'scaling.svg'), 'utf8')).toMatch(/^<svg/);
    expect(existsSync(join(cwd, 'docs'))).toBe(false);
  });

  it('says so in its help', async () => {
    const run = runCli(['scaling', '--help']);
    expect(await exitWithin(run, 10_000)).toBe(0);
    expect(run.stdout()).toMatch(/--out FILE +chart to write \(default \.\/scaling\.svg/);
    const top = runCli(['--help']);
    expect(await exitWithin(top, 10_000)).toBe(0);
    expect(top.stdout()).not.toContain('docs/scaling.svg');
  });
});
