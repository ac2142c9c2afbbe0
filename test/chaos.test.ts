import test from 'ava';
import { runChaos } from './chaos/scenario.ts';

// A short seeded run of the chaos tier in CI; `npm run chaos -- --seed S --seconds T` runs long ones.
const SEED = 20261130;
const SECONDS = 30;

test('chaos - 30 s of kills, stops, route cuts and nats-server restarts: nothing acknowledged lost, nothing invented, every node up, replicas converged', async (t) => {
  t.timeout(300_000);
  const report = await runChaos({ seed: SEED, seconds: SECONDS, say: (line) => t.log(line) });
  t.true(report.faults.length > 0, 'faults were injected');
  t.true(report.writesAcked > 0, 'writes were acknowledged');
  t.deepEqual(report.problems, [], `replay: npm run chaos -- --seed ${SEED} --seconds ${SECONDS}`);
});
