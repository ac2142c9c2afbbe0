/**
 * `npm run chaos -- --seed S --seconds T`: one run of the chaos tier (test/chaos/scenario.ts),
 * printing its seed and every fault; exits non-zero when a check failed. Without --seed, a seed
 * is drawn and printed, so that a failing run can be replayed.
 */
import { runChaos } from './scenario.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

// Ended by a signal, the run still goes through 'exit', where the harness kills its children
// (a node left SIGSTOPped would otherwise outlive it).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

const seed = positiveInt('seed', flag('seed'), 1 + Math.floor(Math.random() * 2 ** 31));
const seconds = positiveInt('seconds', flag('seconds'), 60);
const report = await runChaos({ seed, seconds, say: (line) => console.log(line) });
console.log(JSON.stringify({ ...report, faults: report.faults.length }));
if (report.problems.length > 0) {
  console.log(`FAILED (replay: npm run chaos -- --seed ${seed} --seconds ${seconds}):`);
  for (const p of report.problems) console.log(`  ${p}`);
  process.exit(1);
}
console.log(`chaos: seed ${seed} passed`);
process.exit(0);
