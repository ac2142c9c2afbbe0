/**
 * `npm run paper -- fig5 --quick` end to end into a temporary directory: three real 3-node
 * clusters in turn, one per sync mode. Not timed: the smoke test checks the output's shape (a
 * series per mode, each a point per window with finite latencies), never the latencies themselves.
 */
import test from 'ava';
import { runPaperQuick } from './harness/paper.ts';
import { fig5 } from '../bench/paper/fig5.ts';


interface Fig5Json {
  seed: number;
  summary: string[];
  series: Array<{ name: string; points: Array<{ x: number; y: number; mode: string; average: number; count: number; errors: number; shed: number }> }>;
}

test('paper fig5 - npm run paper -- fig5 --quick writes the figure and data with a series per sync mode', async (t) => {
  const run = await runPaperQuick(t, 'fig5', 230_000);
  t.regex(run.stdout, new RegExp(`seed ${fig5.defaultSeed} \\(quick\\)`));
  t.regex(run.stdout, /load average before the run \(1, 5, 15 min\): [\d.]+ [\d.]+ [\d.]+/);
  t.regex(run.stdout, /p99\.9 ratio always\/periodic: median window [\d.]+, peak window [\d.]+ \(paper: about 5 at peak\)/);
  const svg = run.read('svg');
  t.true(svg.startsWith('<svg'));
  for (const label of ['always', 'one', 'periodic']) t.true(svg.includes(label), `figure has ${label}`);

  const data = JSON.parse(run.read('json')) as Fig5Json;
  t.is(data.seed, fig5.defaultSeed);
  t.deepEqual(data.series.map((s) => s.name), ['always', 'one', 'periodic']);
  for (const s of data.series) {
    t.deepEqual(s.points.map((p) => p.x), [1, 2, 3], `${s.name}: one point per 1 s window`);
    for (const p of s.points) {
      t.is(p.mode, s.name);
      t.true(p.count > 0, `${s.name} at ${p.x} s: writes measured`);
      t.true(Number.isFinite(p.y) && p.y > 0 && Number.isFinite(p.average) && p.average > 0, `${s.name} at ${p.x} s: p99.9 ${p.y}, average ${p.average}`);
      t.true(p.y >= p.average, `${s.name} at ${p.x} s: p99.9 ${p.y} >= average ${p.average}`);
      // Failed writes are counted, not forbidden: a busy machine can time some out.
      t.true(Number.isInteger(p.errors) && p.errors >= 0 && p.errors <= p.count, `${s.name} at ${p.x} s: errors ${p.errors}`);
    }
    t.true(s.points.some((p) => p.count > p.errors), `${s.name}: some writes succeeded`);
  }
  t.is(run.read('csv').split('\n')[0], 'series,x,y,mode,average,p50,max,count,errors,shed');
});
