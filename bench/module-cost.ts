// What loading each runtime dependency alone costs: a fresh node (the same NODE_OPTIONS as the
// operator) imports one module; RSS and V8 heap used (after a full GC) are read before and after.
// Run with the bench (independent of the number of resources), or alone:
//   node --import tsx bench/module-cost.ts [extra-module-or-file …]
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface ModuleCost { module: string; rssMb: number; heapUsedMb: number; importMs: number }

const PROBE = `
const gc = globalThis.gc;
gc(); const a = process.memoryUsage(); const t = performance.now();
for (const m of JSON.parse(process.argv[1])) await import(m);
const ms = performance.now() - t;
gc(); gc(); const b = process.memoryUsage();
process.stdout.write(JSON.stringify({ rss: b.rss - a.rss, heap: b.heapUsed - a.heapUsed, ms, baseRss: a.rss, baseHeap: a.heapUsed }));
`;

function probe(cwd: string, modules: string[]): { rss: number; heap: number; ms: number; baseRss: number; baseHeap: number } {
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', PROBE, JSON.stringify(modules)], { cwd, encoding: 'utf8' });
  return JSON.parse(out) as { rss: number; heap: number; ms: number; baseRss: number; baseHeap: number };
}

const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;

/** The dependencies of package.json, each alone; then all of them; then `extra` (e.g. the operator's compiled entry module). */
export function measureModuleCost(repoRoot: string, extra: string[] = []): { baseline: { rssMb: number; heapUsedMb: number }; modules: ModuleCost[] } {
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const deps = Object.keys(pkg.dependencies);
  const rows: ModuleCost[] = [];
  let baseline = { rssMb: 0, heapUsedMb: 0 };
  for (const set of [...deps.map((d) => [d]), deps, ...extra.map((e) => [e])]) {
    const r = probe(repoRoot, set.map((m) => (m.startsWith('/') ? pathToFileURL(m).href : m)));
    baseline = { rssMb: mb(r.baseRss), heapUsedMb: mb(r.baseHeap) };
    rows.push({ module: set.length > 1 ? 'all dependencies together' : set[0]!.replace(`${repoRoot}/`, ''), rssMb: mb(r.rss), heapUsedMb: mb(r.heap), importMs: Math.round(r.ms) });
  }
  return { baseline, modules: rows };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const root = join(new URL('.', import.meta.url).pathname, '..');
  process.stdout.write(`${JSON.stringify(measureModuleCost(root, process.argv.slice(2)), null, 2)}\n`);
}
