/**
 * The paper's experiments (bench/paper/): the placement of Dynamo's three strategies, the load
 * measure, and `npm run paper -- fig8 --quick` end to end into a temporary directory. Nothing here
 * is timed; the smoke test checks the output's shape and one property the paper reports (strategy
 * 3 balances better than strategy 1 with as much metadata), which a wrong measure would break.
 */
import test from 'ava';
import { runPaperQuick } from './harness/paper.ts';
import fc from 'fast-check';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { partitionOf } from '../src/ring.ts';
import {
  RING_SIZE,
  efficiency,
  expectedShares,
  fig8,
  positionOf,
  randomTokens,
  requestLoads,
  requestPositions,
  stream,
  strategy1,
  strategy2,
  strategy3,
  type Placement,
} from '../bench/paper/fig8.ts';
import { toCsv } from '../bench/paper/figure.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const N = 3;

function checkPlacement(t: import('ava').ExecutionContext, placement: Placement, positions: Uint32Array): void {
  for (const position of [0, 1, RING_SIZE - 1, ...positions.subarray(0, 500)]) {
    const replicas = placement.replicasAt(position);
    t.is(replicas.length, N);
    t.is(new Set(replicas).size, N, `distinct replicas at ${position}`);
    t.true(replicas.every((node) => Number.isInteger(node) && node >= 0 && node < placement.nodes));
  }
  const loads = requestLoads(placement, positions);
  t.is(Math.round(loads.reduce((a, b) => a + b, 0) * 1e6) / 1e6, positions.length, 'loads sum to the requests');
  const shares = expectedShares(placement);
  t.true(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-9, 'expected shares sum to 1');
  // The ranges tile the ring.
  let end = 0;
  for (const range of placement.ranges()) {
    t.is(range.start, end);
    end = range.end;
  }
  t.is(end, RING_SIZE);
}

test('paper - strategies 1 and 2: every key gets N distinct nodes and the loads sum to the requests', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: N, max: 12 }), fc.integer({ min: 1, max: 8 }), fc.constantFrom(8, 64, 100), fc.nat(), (nodes, tokensPerNode, q, seed) => {
      const tokens = randomTokens(nodes, tokensPerNode, stream(seed, 'tokens'));
      const positions = requestPositions(300, stream(seed, 'requests'));
      checkPlacement(t, strategy1(tokens, nodes, N), positions);
      checkPlacement(t, strategy2(tokens, nodes, N, q), positions);
    }),
    { numRuns: 40 },
  );
});

test('paper - strategy 3 is dkv ring: N distinct nodes per key, loads sum to the requests, partition as src/ring.ts', (t) => {
  const positions = requestPositions(2000, stream(1, 'requests'));
  for (const q of [64, 256]) checkPlacement(t, strategy3(30, N, q), positions);
  fc.assert(
    fc.property(fc.string(), fc.constantFrom(64, 1024, 4096), (key, q) => Math.floor(positionOf(key) / (RING_SIZE / q)) === partitionOf(key, q)),
  );
});

test('paper - strategy 1 key goes to the N distinct owners of the tokens at or after it', (t) => {
  // Tokens at 10 (node 0), 20 (node 1), 30 (node 0), 40 (node 2): a key at 15 goes to 1, 0, 2.
  const tokens = { positions: Float64Array.from([10, 20, 30, 40]), owners: Int32Array.from([0, 1, 0, 2]) };
  const placement = strategy1(tokens, 3, N);
  t.deepEqual(placement.replicasAt(15), [1, 0, 2]);
  t.deepEqual(placement.replicasAt(20), [1, 0, 2]);
  t.deepEqual(placement.replicasAt(41), [0, 1, 2], 'past the last token wraps to the first');
  // Strategy 2 with Q = 2: partition 0 ends at 2^31, past every token, so it wraps to token 10.
  t.deepEqual(strategy2(tokens, 3, N, 2).replicasAt(0), [0, 1, 2]);
});

test('paper - efficiency is mean over max, 1 when balanced', (t) => {
  t.is(efficiency([5, 5, 5]), 1);
  t.is(efficiency([1, 2, 3]), 2 / 3);
  t.is(toCsv([{ series: 'a,b', x: 1 }, { series: 'c', y: 2 }]), 'series,x,y\n"a,b",1,\nc,,2\n');
});

interface Fig8Json {
  experiment: string;
  seed: number;
  params: Record<string, unknown>;
  series: Array<{ name: string; points: Array<{ x: number; y: number; expected: number }> }>;
}

test('paper - npm run paper -- fig8 --quick writes the figure and data with the three strategies', async (t) => {
  const run = await runPaperQuick(t, 'fig8', 120_000);
  t.regex(run.stdout, new RegExp(`seed ${fig8.defaultSeed} \\(quick\\)`));
  t.regex(run.stdout, /params \{"nodes":30,"replicas":3,/);

  const svg = run.read('svg');
  t.true(svg.startsWith('<svg'));
  for (const name of ['strategy 1', 'strategy 2', 'strategy 3']) t.true(svg.includes(name), `legend has ${name}`);

  const data = JSON.parse(run.read('json')) as Fig8Json;
  t.is(data.seed, fig8.defaultSeed);
  t.deepEqual(data.series.map((s) => s.name), ['strategy 1', 'strategy 2', 'strategy 3']);
  for (const s of data.series) {
    t.true(s.points.length >= 2, `${s.name} has points`);
    for (const p of s.points) {
      t.true(p.y > 0 && p.y <= 1, `${s.name} at ${p.x}: ${p.y}`);
      t.true(p.expected > 0 && p.expected <= 1, `${s.name} expected at ${p.x}: ${p.expected}`);
    }
  }
  const [s1, , s3] = data.series;
  const smallest3 = s3!.points[0]!;
  // Strategy 1 with up to twice as much metadata still balances worse than strategy 3 at its least.
  const comparable = s1!.points.filter((p) => p.x <= 2 * smallest3.x);
  t.true(comparable.length > 0);
  for (const p of comparable) t.true(smallest3.y > p.y, `strategy 3 ${smallest3.y} at ${smallest3.x} vs strategy 1 ${p.y} at ${p.x}`);
  t.is(run.read('csv').split('\n')[0], 'series,x,y,yMin,yMax,expected,tokensPerNode,partitionsPerNode');
});

test('paper - an unknown experiment is refused with the list', async (t) => {
  const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/paper/run.ts', 'fig99'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? ((err as any).code ?? null) : 0, stderr }),
    );
  });
  t.is(run.code, 2);
  t.regex(run.stderr, /unknown experiment: fig99[\s\S]*experiments: fig8/);
});
