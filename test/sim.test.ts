/**
 * The simulation's CI seeds (test/sim/world.ts): real nodes on a simulated bus and virtual time,
 * with drops, duplicates, delays, partitions and crashes drawn from each seed. Every check must
 * hold for every seed; a seed that fails prints itself and how to replay it. A hint dropped on
 * delivery, planted on purpose, failed seeds 102, 103 and 105 of this set (docs/architecture.md).
 * Serial: two simulations in one process would share nact's registry of systems by name.
 */
import test from 'ava';
import { runWorld } from './sim/world.ts';

const CI_SEEDS = [100, 101, 102, 103, 104, 105];
const STEPS = 20_000;

for (const seed of CI_SEEDS) {
  test.serial(`sim - seed ${seed}: nothing acknowledged lost, nothing invented, siblings bounded, replicas converged, hints drained`, async (t) => {
    t.timeout(120_000);
    const r = await runWorld({ seed, steps: STEPS });
    t.log(`trace ${r.trace}, ${r.steps} events, ${(r.virtualMs / 1000).toFixed(1)} s virtual; ${r.acknowledged} of ${r.attempted} adds acknowledged; ${r.crashes} crashes, ${r.partitions} partitions; anti-entropy ${r.antiEntropy ? 'on' : 'off'}`);
    t.true(r.acknowledged > 100, `only ${r.acknowledged} adds acknowledged: the run tested little`);
    t.true(r.crashes > 0 && r.partitions > 0, 'the run had no crash or no partition');
    t.deepEqual(r.violations, [], `replay: npm run sim -- --seed ${seed} --steps ${STEPS}`);
  });
}

test.serial('sim - a seed replays exactly: the same trace, the same outcome', async (t) => {
  t.timeout(120_000);
  const a = await runWorld({ seed: 7, steps: 5_000 });
  const b = await runWorld({ seed: 7, steps: 5_000 });
  const c = await runWorld({ seed: 8, steps: 5_000 });
  t.is(a.trace, b.trace);
  t.deepEqual({ ...a }, { ...b });
  t.not(a.trace, c.trace);
});
