import { existsSync, realpathSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI_PACKAGE = '@roomfabric/cli';

/**
 * Path of the built `roomfabric` CLI (`dist/bin.js` of `@roomfabric/cli`), found at run time:
 * the CLI depends on the testkit, so the testkit cannot declare a dependency on it.
 * Throws a one-line Error telling to run `npm run build` when the CLI is not built.
 */
export function resolveCliBin(): string {
  const packageDir = findCliPackageDir();
  if (packageDir === undefined) {
    throw new Error(
      `${CLI_PACKAGE} not found from ${here()}: run \`npm install\` and \`npm run build\` at the repository root`,
    );
  }
  const bin = join(packageDir, 'dist', 'bin.js');
  if (!existsSync(bin)) {
    throw new Error(`roomfabric CLI is not built (${bin} is missing): run \`npm run build\` first`);
  }
  return bin;
}

/** Environment of CLI children: the parent's, with `RF_LOG_LEVEL` defaulting to `warn`. */
export function cliEnv(): NodeJS.ProcessEnv {
  return { ...process.env, RF_LOG_LEVEL: process.env.RF_LOG_LEVEL || 'warn' };
}

function findCliPackageDir(): string | undefined {
  try {
    // Works when the CLI's `exports` lists `./package.json`.
    return dirname(fileURLToPath(import.meta.resolve(`${CLI_PACKAGE}/package.json`)));
  } catch {
    // Not exported (or no import.meta.resolve under a test runner): walk node_modules
    // directories upwards like Node's resolver does.
  }
  for (let dir = here(); ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', ...CLI_PACKAGE.split('/'));
    if (existsSync(join(candidate, 'package.json'))) return realpathSync(candidate);
    if (dirname(dir) === dir) return undefined;
  }
}

function here(): string {
  return dirname(fileURLToPath(import.meta.url));
}
