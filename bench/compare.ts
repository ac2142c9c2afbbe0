/**
 * Two result files side by side: for each (suite, workload, target) present in both, the
 * medians before and after and their ratio, e.g. to see what an optimisation changed.
 *
 *   node --import tsx bench/compare.ts bench/results/BEFORE.json bench/results/AFTER.json
 */
import { readFileSync } from 'node:fs';
import { table, type Summary } from './report.ts';

interface ResultFile {
  commandLine: string;
  machine: { nproc: number; cpuModel: string; node: string };
  suites: { config: { label: string }; summaries: Summary[] }[];
}

const [beforePath, afterPath] = process.argv.slice(2);
if (!beforePath || !afterPath) {
  process.stderr.write('usage: node --import tsx bench/compare.ts BEFORE.json AFTER.json\n');
  process.exit(2);
}
const load = (p: string) => JSON.parse(readFileSync(p, 'utf8')) as ResultFile;
const before = load(beforePath);
const after = load(afterPath);
const key = (label: string, s: Summary) => `${label}\u0000${s.workload}\u0000${s.target}`;
const old = new Map<string, Summary>();
for (const suite of before.suites) for (const s of suite.summaries) old.set(key(suite.config.label, s), s);

const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : '-');
const rows: string[][] = [];
for (const suite of after.suites) {
  for (const s of suite.summaries) {
    const b = old.get(key(suite.config.label, s));
    if (!b) continue;
    rows.push([
      `${suite.config.label} ${s.workload}`,
      s.target,
      `${f(b.throughput, 0)} -> ${f(s.throughput, 0)} (${f(s.throughput / b.throughput, 2)}x)`,
      `${f(b.p99Ms, 1)} -> ${f(s.p99Ms, 1)} (${f(s.p99Ms / b.p99Ms, 2)}x)`,
      `${f(b.p999Ms, 1)} -> ${f(s.p999Ms, 1)} (${f(s.p999Ms / b.p999Ms, 2)}x)`,
      `${f(b.cpuSecondsPerKiloOps, 3)} -> ${f(s.cpuSecondsPerKiloOps, 3)} (${f(s.cpuSecondsPerKiloOps / b.cpuSecondsPerKiloOps, 2)}x)`,
      `${b.errorCount} -> ${s.errorCount}`,
    ]);
  }
}
process.stdout.write(`before: ${before.commandLine}\nafter:  ${after.commandLine}\n`);
if (before.machine.cpuModel !== after.machine.cpuModel || before.machine.nproc !== after.machine.nproc || before.machine.node !== after.machine.node) {
  process.stdout.write('! the two runs were on different machines or Node versions: compare with care\n');
}
process.stdout.write(table(rows, ['suite workload', 'target', 'ops/s', 'p99 ms', 'p99.9 ms', 'CPU s/1k ops', 'errors']) + '\n');
