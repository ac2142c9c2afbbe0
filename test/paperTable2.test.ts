/**
 * `npm run paper -- table2 --quick` end to end into a temporary directory: a real 5-node cluster,
 * both modes measured. Not timed: the smoke test checks the output's shape (the four series of
 * server- and client-driven reads and writes, each with an average and a p99.9), not the latencies.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { modeOfRound, table2 } from '../bench/paper/table2.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

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
  t.timeout(180_000);
  const out = mkdtempSync(join(tmpdir(), 'dkv-paper-table2-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/paper/run.ts', 'table2', '--quick', '--out', out], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as any).code ?? null) : 0, stdout, stderr }),
    );
  });
  t.is(run.code, 0, run.stderr + run.stdout);
  t.regex(run.stdout, new RegExp(`seed ${table2.defaultSeed} \\(quick\\)`));
  t.regex(run.stdout, /params \{"nodes":5,"n":3,/);
  t.regex(run.stdout, /reads p99\.9: server-driven [\d.]+ ms -> client-driven [\d.]+ ms \(paper 68\.9 -> 30\.4 ms\)/);
  t.regex(run.stderr, /table2: 100%/, 'progress, as plain lines off a terminal');
  // Read-modify-writes: the client-driven writes carry contexts that name their coordinator.
  const named = /client-driven: (\d+) of (\d+) writes carried a context naming a coordinator \(followed\)/.exec(run.stdout);
  t.truthy(named, run.stdout);
  t.true(Number(named![1]) > 0 && Number(named![1]) <= Number(named![2]), named![0]);
  for (const ext of ['svg', 'csv', 'json']) t.true(existsSync(join(out, `table2.${ext}`)), `table2.${ext}`);

  const svg = readFileSync(join(out, 'table2.svg'), 'utf8');
  t.true(svg.startsWith('<svg'));
  for (const label of ['server-driven', 'client-driven', 'average', 'p99.9']) t.true(svg.includes(label), `figure has ${label}`);

  const data = JSON.parse(readFileSync(join(out, 'table2.json'), 'utf8')) as Table2Json;
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
  t.is(readFileSync(join(out, 'table2.csv'), 'utf8').split('\n')[0], 'series,x,y,stat,roundMin,roundMax,paper,mode,kind,count,p50,p99,max,errors');
});
