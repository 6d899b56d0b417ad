/*
 * `npx roomfabric` on a fresh clone: npm links a package's bin at install time only if the
 * file exists then, so the bin must be a committed file (a shim that loads the built
 * dist/bin.js), not the build output itself. And the README's commands are kept runnable
 * by .ci/readme-commands.mjs, which CI runs after `npm ci`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exitWithin, repoRoot, runCli } from './cli-process.js';

const cliDir = join(repoRoot, 'packages/cli');
const pkg = JSON.parse(readFileSync(join(cliDir, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  files: string[];
};
const binPath = pkg.bin.roomfabric ?? '';

function readmeCommands(args: string[]) {
  return spawnSync(process.execPath, [join(repoRoot, '.ci/readme-commands.mjs'), ...args], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
}

describe('the roomfabric bin', () => {
  it('is a committed file outside dist/, so npm ci links it before anything is built', () => {
    expect(binPath).not.toMatch(/(^|\/)dist\//);
    const tracked = execFileSync('git', ['ls-files', '--', join('packages/cli', binPath)], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(tracked.trim()).toBe(join('packages/cli', binPath).replace(/^\.\//, ''));
    // Published packages carry it too.
    expect(pkg.files.some((f) => binPath.replace(/^\.\//, '').startsWith(f))).toBe(true);
  });

  it('says in one line to build first when dist/bin.js is missing', async () => {
    // The shim alone, in a package directory with no dist/.
    const dir = mkdtempSync(join(tmpdir(), 'rf-shim-'));
    const shim = join(dir, binPath);
    mkdirSync(dirname(shim), { recursive: true });
    copyFileSync(join(cliDir, binPath), shim);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    const run = runCli(['cluster', '--edges', '3'], { bin: shim });
    expect(await exitWithin(run, 10_000)).toBe(1);
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(/^roomfabric: .*not built.*run `?npm run build`? first[^\n]*\n$/);
  });

  it('runs the built CLI with the arguments it was given', async () => {
    const run = runCli(['edge', '--help'], { bin: join(cliDir, binPath) });
    expect(await exitWithin(run, 10_000)).toBe(0);
    expect(run.stdout()).toContain('Usage: roomfabric edge');
    const bad = runCli(['edge', '--nat', 'x'], { bin: join(cliDir, binPath) });
    expect(await exitWithin(bad, 10_000)).toBe(2);
  });
});

describe('.ci/readme-commands.mjs', () => {
  it('is run by .ci/run after npm ci', () => {
    const ci = readFileSync(join(repoRoot, '.ci/run'), 'utf8');
    const install = ci.indexOf('npm ci');
    const readme = ci.indexOf('.ci/readme-commands.mjs');
    expect(install).toBeGreaterThanOrEqual(0);
    expect(readme).toBeGreaterThan(install);
  });

  it('knows every shell command of the README, and runs the long-running ones', () => {
    const result = readmeCommands(['--check']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    for (const command of [
      'npm start',
      'npm start -- --port 8080',
      'npm run build && npx roomfabric cluster --edges 3',
    ]) {
      expect(result.stdout).toMatch(new RegExp(`^run +${escape(command)}$`, 'm'));
    }
    expect(result.stdout).toMatch(/^skip +npm run format +\(.+\)$/m);
  });

  it('fails on a README command it neither runs nor knowingly skips, or on a stale entry', () => {
    const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
    const dir = mkdtempSync(join(tmpdir(), 'rf-readme-'));
    const added = join(dir, 'added.md');
    writeFileSync(added, `${readme}\n\`\`\`sh\nnpx roomfabric frobnicate --hard\n\`\`\`\n`);
    const unknown = readmeCommands(['--check', '--readme', added]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('npx roomfabric frobnicate --hard');
    const inline = join(dir, 'inline.md');
    writeFileSync(inline, `${readme}\nThen run \`npm run nuke\` once.\n`);
    expect(readmeCommands(['--check', '--readme', inline]).stderr).toContain('npm run nuke');
    const removed = join(dir, 'removed.md');
    writeFileSync(removed, readme.replace('npm start -- --port 8080', 'npm start'));
    const stale = readmeCommands(['--check', '--readme', removed]);
    expect(stale.status).toBe(1);
    expect(stale.stderr).toContain('npm start -- --port 8080');
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
