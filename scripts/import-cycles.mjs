#!/usr/bin/env node
// Prints the import cycles between the packages' source modules (type-only imports
// count: a module that needs another's types cannot be read without it) and between the
// packages themselves; exits 1 when there is one. `node scripts/import-cycles.mjs`.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const packagesDir = join(root, 'packages');
const IMPORT =
  /^\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|^\s*import\s+['"]([^'"]+)['"]/gm;

/** Every non-test .ts source of a package, by path relative to the repository. */
function sources(pkg) {
  const dir = join(packagesDir, pkg, 'src');
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.contract.ts'))
    .map((f) => join(dir, f));
}

const packages = readdirSync(packagesDir).filter((p) => existsSync(join(packagesDir, p, 'src')));
const moduleEdges = new Map(); // file -> Set(file), within a package
const packageEdges = new Map(); // package -> Set(package)
for (const pkg of packages) {
  packageEdges.set(pkg, new Set());
  for (const file of sources(pkg)) {
    const out = new Set();
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) {
        const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
        if (existsSync(target)) out.add(target);
      } else if (spec.startsWith('@roomfabric/')) {
        const dep = spec.split('/')[1];
        if (dep !== pkg) packageEdges.get(pkg).add(dep);
      }
    }
    moduleEdges.set(file, out);
  }
}

/** Strongly connected components of more than one node (Tarjan), i.e. the cycles. */
function cycles(graph) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? new Set()).has(v)) found.push(scc);
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

const moduleCycles = cycles(moduleEdges);
const packageCycles = cycles(packageEdges);
for (const scc of packageCycles) console.log(`package cycle: ${scc.join(' <-> ')}`);
for (const scc of moduleCycles) {
  console.log(
    `module cycle (${scc.length}): ${scc
      .map((f) => relative(root, f))
      .sort()
      .join(', ')}`,
  );
}
const modules = moduleEdges.size;
console.log(
  `${packages.length} packages, ${modules} modules: ${packageCycles.length} package cycles, ${moduleCycles.length} module cycles`,
);
if (process.argv.includes('--graph')) {
  for (const [pkg, deps] of packageEdges) console.log(`${pkg} -> ${[...deps].sort().join(', ')}`);
}
process.exitCode = packageCycles.length + moduleCycles.length > 0 ? 1 : 0;
