/**
 * `npm run paper -- table2 --quick` end to end into a temporary directory: a real 5-node cluster,
 * both modes measured. Not timed: the smoke test checks the output's shape (the four series of
 * server- and client-driven reads and writes, each with an average and a p99.9), not the latencies.
 */
import test from 'ava';
import { runPaperQuick } from './harness/paper.ts';
import { modeOfRound, table2 } from '../bench/paper/table2.ts';


test('paper table2 - the modes alternate A B B A, as many rounds each', (t) => {
  const modes = Array.from({ length: 8 }, (_, i) => modeOfRound(i));
  t.deepEqual(modes.slice(0, 4), ['server-driven', 'client-driven', 'client-driven', 'server-driven']);
  t.is(modes.filter((m) => m === 'server-driven').length, 4);
  t.true(table2.params.nodes > table2.params.n && table2.quickParams.nodes > table2.quickParams.n, 'more nodes than N, so routing matters');
});

interface Table2Json {
  seed: number;
  params: Record<string, unknown>;
  summary: string[];
  series: Array<{ name: string; points: Array<{ x: number; y: number; stat: string; count: number; errors: number }> }>;
}

test('paper table2 - npm run paper -- table2 --quick writes the figure and data with both modes, reads and writes', async (t) => {
  const run = await runPaperQuick(t, 'table2', 170_000);
  t.regex(run.stdout, new RegExp(`seed ${table2.defaultSeed} \\(quick\\)`));
  t.regex(run.stdout, /params \{"nodes":5,"n":3,/);
  t.regex(run.stdout, /reads p99\.9: server-driven [\d.]+ ms -> client-driven [\d.]+ ms \(paper 68\.9 -> 30\.4 ms\)/);
  // Read-modify-writes: the client-driven writes carry contexts that name their coordinator.
  const named = /client-driven: (\d+) of (\d+) writes carried a context naming a coordinator \(followed\)/.exec(run.stdout);
  t.truthy(named, run.stdout);
  t.true(Number(named![1]) > 0 && Number(named![1]) <= Number(named![2]), named![0]);

  const svg = run.read('svg');
  t.true(svg.startsWith('<svg'));
  for (const label of ['server-driven', 'client-driven', 'average', 'p99.9']) t.true(svg.includes(label), `figure has ${label}`);

  const data = JSON.parse(run.read('json')) as Table2Json;
  t.is(data.seed, table2.defaultSeed);
  t.deepEqual(data.series.map((s) => s.name), ['server-driven read', 'server-driven write', 'client-driven read', 'client-driven write']);
  for (const s of data.series) {
    t.deepEqual(s.points.map((p) => p.stat), ['average', 'p99.9'], s.name);
    const [average, p999] = s.points;
    t.true(average!.y > 0, `${s.name} average ${average!.y}`);
    t.true(p999!.y >= average!.y, `${s.name} p99.9 ${p999!.y} >= average ${average!.y}`);
    t.true(average!.count > 0, `${s.name} measured`);
    t.is(average!.errors, 0, `${s.name} errors`);
  }
  t.is(run.read('csv').split('\n')[0], 'series,x,y,stat,roundMin,roundMax,paper,mode,kind,count,p50,p99,max,errors');
});
