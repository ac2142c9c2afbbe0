/**
 * `npm run fuzz -- --count 100000 [--seed S]`: one run of the fuzz tier (test/fuzz/internal.ts),
 * printing its seed; exits non-zero when a check failed.
 */
import { runFuzz } from './internal.ts';

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

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
const seed = positiveInt('seed', flag('seed'), 1 + Math.floor(Math.random() * 2 ** 31));
const count = positiveInt('count', flag('count'), 10_000);
const started = Date.now();
const report = await runFuzz({ seed, count, say: (line) => console.log(line) });
console.log(JSON.stringify({ ...report, seconds: Math.round((Date.now() - started) / 1000) }));
if (report.problems.length > 0) {
  console.log(`FAILED (replay: npm run fuzz -- --seed ${seed} --count ${count}):`);
  for (const p of report.problems) console.log(`  ${p}`);
  process.exit(1);
}
console.log(`fuzz: seed ${seed} passed`);
process.exit(0);
