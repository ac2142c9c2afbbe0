import test from 'ava';
import { runFuzz } from './fuzz/internal.ts';

// CI's share of the fuzz tier; `npm run fuzz -- --count 100000` runs the long one.
const SEED = 20261130;
const COUNT = 3000;

test('fuzz - random and malformed messages on every internal subject and reply inbox: every node alive, ring and data unchanged', async (t) => {
  t.timeout(120_000);
  const report = await runFuzz({ seed: SEED, count: COUNT, say: (line) => t.log(line) });
  t.true(report.sent > COUNT * 0.9, `${report.sent} messages sent`);
  t.deepEqual(report.problems, [], `replay: npm run fuzz -- --seed ${SEED} --count ${COUNT}`);
});
