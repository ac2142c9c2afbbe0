/**
 * §6.3 of the paper (bench/paper/versions.ts): the cart merge and the cart choice, and `npm run
 * paper -- versions --quick` end to end on a real 3-node cluster into a temporary directory. Not
 * timed; the smoke test checks the output's shape: the four series, shares that sum to 1, and
 * one-version reads as the largest share.
 */
import test from 'ava';
import { runPaperQuick } from './harness/paper.ts';
import { BUCKETS, mergeCart, pickCart, summarise, versions } from '../bench/paper/versions.ts';
import { stream } from '../bench/paper/fig8.ts';


test('paper versions - siblings merge by union, a value that is not a cart adds nothing', (t) => {
  t.deepEqual(mergeCart(['["b","a"]', '["a","c"]']), ['a', 'b', 'c']);
  t.deepEqual(mergeCart(['not json', '{"a":1}', '["x"]']), ['x']);
  t.deepEqual(mergeCart([]), []);
});

test('paper versions - about hotShare of sessions go to the hot carts', (t) => {
  const p = { ...versions.params, carts: 1000, hotCarts: 10, hotShare: 0.2 };
  const random = stream(1, 'carts');
  let hot = 0;
  for (let i = 0; i < 10_000; i++) {
    const cart = pickCart(random, p);
    t.true(cart >= 0 && cart < p.carts);
    if (cart < p.hotCarts) hot++;
  }
  // 0.2 to hot carts, plus 1% of the uniform 0.8.
  t.true(Math.abs(hot / 10_000 - 0.208) < 0.02, `hot share ${hot / 10_000}`);
});

test('paper versions - summarise counts 4 and more versions together and leaves not-found out', (t) => {
  const r = summarise([7, 90, 6, 3, 1], 7, { gets: 0, puts: 0 }, 2);
  t.deepEqual(r.series.map((s) => s.name), [...BUCKETS]);
  t.deepEqual(r.series.map((s) => s.points[0]!.y), [0.9, 0.06, 0.03, 0.01]);
});

interface VersionsJson {
  seed: number;
  summary: string[];
  series: Array<{ name: string; points: Array<{ x: number; y: number; reads: number; paper: number }> }>;
}

test('paper versions - npm run paper -- versions --quick on a real cluster writes the four series', async (t) => {
  const run = await runPaperQuick(t, 'versions', 150_000);
  t.regex(run.stdout, new RegExp(`seed ${versions.defaultSeed} \\(quick\\)`));
  t.regex(run.stdout, /params \{"nodes":3,"carts":50,/);
  t.true(run.read('svg').startsWith('<svg'));
  t.is(run.read('csv').split('\n')[0], 'series,x,y,reads,paper');

  const data = JSON.parse(run.read('json')) as VersionsJson;
  t.is(data.seed, versions.defaultSeed);
  t.deepEqual(data.series.map((s) => s.name), [...BUCKETS]);
  const shares = data.series.map((s) => s.points[0]!.y);
  t.true(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9, `shares ${shares.join(', ')}`);
  t.true(shares.slice(1).every((s) => s < shares[0]!), 'one version is the largest share');
  t.true(data.series.reduce((a, s) => a + s.points[0]!.reads, 0) > 0);
  t.regex(data.summary.join('\n'), /1 version: .*paper 99\.94%/);
});
