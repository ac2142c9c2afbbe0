/**
 * `npm run fuzz -- --count 100000 [--seed S]`: one run of the fuzz tier (test/fuzz/internal.ts),
 * printing its seed; exits non-zero when a check failed.
 */
import { exitOnSignals, flag, positiveInt, seedArg } from '../harness/runArgs.ts';
import { runFuzz } from './internal.ts';

exitOnSignals();
const seed = seedArg();
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
