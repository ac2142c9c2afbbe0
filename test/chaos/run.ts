/**
 * `npm run chaos -- --seed S --seconds T`: one run of the chaos tier (test/chaos/scenario.ts),
 * printing its seed and every fault; exits non-zero when a check failed. Without --seed, a seed
 * is drawn and printed, so that a failing run can be replayed.
 */
import { exitOnSignals, flag, positiveInt, seedArg } from '../harness/runArgs.ts';
import { runChaos } from './scenario.ts';

// A node left SIGSTOPped would otherwise outlive an interrupted run.
exitOnSignals();
const seed = seedArg();
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
