/**
 * Fig. 5 of the Dynamo paper (§6.1): the 99.9th percentile and average write latency over time,
 * with writes made durable on every replica against buffered writes, at a load near capacity.
 * The paper plots a day in one-hour windows; we plot about a minute in seconds-long windows.
 *
 * dkv's three sync modes (src/storage/lmdb.ts), each on a fresh cluster of its own, in turn: 3 real
 * `dkv node` processes with lmdb storage, N = 3, R = W = 2, on a nats-server of their own
 * (bench/targets/dkv.ts), one load generator in this process:
 * - `always`: every replica fsyncs its copy before it acknowledges (the paper's durable writes);
 * - `one`: buffered, and the coordinator's own copy is fsynced before the write is answered (the
 *   paper's refinement; unlike the paper, the answer waits for that copy, see docs/architecture.md);
 * - `periodic`: buffered, every copy fsynced within a second (the paper's buffered writes, as far
 *   as latency goes: its coordinator does not wait for the durable copy either).
 *
 * Load: writes only (each a read-modify-write put carrying the context of its key's last reply),
 * uniform keys so that no hot key's siblings grow. "Near capacity" is measured, not guessed: on
 * the `always` cluster, after a warm-up, a closed loop with many requests in flight gives its
 * capacity (writes/s it completes when never idle); every mode then gets the same open-loop load,
 * `loadShare` of that capacity, with Poisson arrivals and latency counted from each request's due
 * time (bench/paper/openLoop.ts). An open loop shows queueing where a closed loop would slow its
 * clients down instead; the same offered load for all modes is the paper's comparison (the same
 * traffic, buffered or not). Each mode's own capacity is probed too and reported.
 *
 * The seed fixes arrivals and keys; the latencies are a measurement and vary from run to run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SyncMode } from '../../src/storage/lmdb.ts';
import { intBelow, mulberry32 } from '../random.ts';
import { runClosedLoop, summarise, type Histogram } from '../runner.ts';
import { DkvTarget } from '../targets/dkv.ts';
import type { Experiment, Point, ProgressFn, Result, Series } from './experiment.ts';
import { runOpenLoop } from './openLoop.ts';

/** In the order they run: `always` first, since its capacity sets everyone's load. */
export const MODES: readonly SyncMode[] = ['always', 'one', 'periodic'];

export interface Fig5Params {
  readonly [name: string]: number;
  readonly nodes: number;
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly keys: number;
  readonly valueBytes: number;
  /** Closed-loop warm-up before the probe (connections, lmdb pages, the JIT), not measured. */
  readonly warmupMs: number;
  /** The capacity probe: a closed loop this long with this many writes in flight. */
  readonly probeMs: number;
  readonly probeConcurrency: number;
  /** The open-loop rate, as a share of `always`'s probed capacity. */
  readonly loadShare: number;
  readonly windowMs: number;
  readonly windows: number;
  /** The open loop's bound on outstanding writes (arrivals past it are shed and counted). */
  readonly inFlightMax: number;
}

const ms = (v: number) => Math.round(v * 1000) / 1000;
const median = (xs: readonly number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface ModeRun {
  readonly capacityPerS: number;
  readonly points: Point[];
  readonly all: Histogram;
  readonly errors: string;
  readonly shed: number;
}

export async function runFig5(params: Fig5Params, seed: number, progress: ProgressFn = () => {}): Promise<Result> {
  const { nodes, n, r, w, keys, valueBytes, warmupMs, probeMs, probeConcurrency, loadShare, windowMs, windows, inFlightMax } = params;
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const stepsPerMode = 3 + windows;
  const total = MODES.length * stepsPerMode;
  let done = 0;
  const step = () => progress(++done, total);
  progress(0, total);
  let ratePerS: number | undefined;
  const runs = new Map<SyncMode, ModeRun>();

  for (const [m, mode] of MODES.entries()) {
    const random = mulberry32(seed + m);
    const dataDir = mkdtempSync(join(tmpdir(), `dkv-fig5-${mode}-`));
    const target = await DkvTarget.start({ via: 'protocol', nodes, n, r, w, storage: 'lmdb', sync: mode, dataDir, keys, valueBytes, name: `fig5-${mode}` });
    try {
      step();
      let version = 0;
      const write = () => target.update(intBelow(random, keys), ++version);
      // Preload every key once, 50 at a time, so that every measured put replaces a value.
      for (let start = 0; start < keys; start += 50) await Promise.all(Array.from({ length: Math.min(50, keys - start) }, (_, i) => target.update(start + i, 0)));
      step();
      const closed = (durationMs: number) => runClosedLoop({ ops: Number.MAX_SAFE_INTEGER, durationMs, concurrency: probeConcurrency, next: () => ({ kind: 'update', keyIndex: 0 }), exec: write });
      await closed(warmupMs);
      const probe = await closed(probeMs);
      const capacityPerS = (probe.ops / probe.elapsedMs) * 1000;
      ratePerS ??= loadShare * capacityPerS;
      step();
      const run = await runOpenLoop({ ratePerS, windowMs, windows, inFlightMax, random, exec: write, onWindow: step });
      const health = target.health();
      if (health.length > 0) throw new Error(`the ${mode} cluster failed during the run: ${health.join('; ')}`);
      const points = run.windows.map((win, i): Point => {
        const s = summarise(win.latency);
        return { x: ((i + 1) * windowMs) / 1000, y: ms(s.p999Ms), mode, average: ms(s.meanMs), p50: ms(s.p50Ms), max: ms(s.maxMs), count: s.count, errors: win.errors, shed: win.shed };
      });
      runs.set(mode, { capacityPerS, points, all: run.all, errors: Object.entries(run.errorCodes).map(([code, k]) => `${code} ${k}`).join(', ') || 'none', shed: run.windows.reduce((a, x) => a + x.shed, 0) });
    } finally {
      await target.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  }

  const series: Series[] = MODES.map((mode) => ({ name: mode, points: runs.get(mode)!.points }));
  const stats = (mode: SyncMode) => {
    const run = runs.get(mode)!;
    const p999s = run.points.map((p) => p.y);
    return { run, overall: summarise(run.all), medianP999: median(p999s), peakP999: Math.max(...p999s), medianAverage: median(run.points.map((p) => p.average as number)) };
  };
  const summary = [
    `load average before the run (1, 5, 15 min): ${load}`,
    `offered load ${ratePerS!.toFixed(0)} writes/s (${Math.round(loadShare * 100)}% of always's probed capacity), ${windows} windows of ${windowMs / 1000} s per mode`,
  ];
  for (const mode of MODES) {
    const s = stats(mode);
    summary.push(
      `${mode}: p99.9 median over windows ${s.medianP999.toFixed(2)} ms, peak window ${s.peakP999.toFixed(2)} ms, all writes ${s.overall.p999Ms.toFixed(2)} ms; average ${s.overall.meanMs.toFixed(2)} ms; capacity ${s.run.capacityPerS.toFixed(0)}/s; ${s.overall.count} writes, errors ${s.run.errors}, shed ${s.run.shed}`,
    );
  }
  const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : 'n/a');
  const [always, one, periodic] = MODES.map(stats) as [ReturnType<typeof stats>, ReturnType<typeof stats>, ReturnType<typeof stats>];
  summary.push(
    `p99.9 ratio always/periodic: median window ${ratio(always.medianP999, periodic.medianP999)}, peak window ${ratio(always.peakP999, periodic.peakP999)} (paper: about 5 at peak)`,
    `p99.9 ratio always/one: median window ${ratio(always.medianP999, one.medianP999)}, peak window ${ratio(always.peakP999, one.peakP999)}`,
    'latencies are measured on this machine and vary from run to run; the seed fixes only arrivals and keys',
  );
  return { series, summary };
}

export const fig5: Experiment<Fig5Params> = {
  name: 'fig5',
  title: 'Fig. 5: p99.9 and average write latency over time, durable (sync always) against buffered writes (sync one, periodic); 3 nodes, N = 3, R = W = 2',
  defaultSeed: 5,
  params: { nodes: 3, n: 3, r: 2, w: 2, keys: 2_000, valueBytes: 100, warmupMs: 3_000, probeMs: 5_000, probeConcurrency: 32, loadShare: 0.85, windowMs: 2_000, windows: 25, inFlightMax: 2_000 },
  quickParams: { nodes: 3, n: 3, r: 2, w: 2, keys: 100, valueBytes: 100, warmupMs: 300, probeMs: 1_000, probeConcurrency: 16, loadShare: 0.85, windowMs: 1_000, windows: 3, inFlightMax: 2_000 },
  run: runFig5,
  figure: (_result, params) => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Write latency over time at ${Math.round(params.loadShare * 100)}% of sync always's capacity (${params.nodes} nodes, N = ${params.n}, W = ${params.w}; Dynamo Fig. 5)`, fontSize: 13 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: `Time (s; ${params.windowMs / 1000} s windows)` },
      color: { field: 'mode', type: 'nominal', title: 'sync', sort: [...MODES] },
    },
    layer: [
      { mark: { type: 'line', point: true }, encoding: { y: { field: 'y', type: 'quantitative', title: 'Latency (ms, log): p99.9 solid, average dashed', scale: { type: 'log' } }, tooltip: [{ field: 'mode' }, { field: 'x' }, { field: 'y', title: 'p99.9' }, { field: 'average' }, { field: 'count' }] } },
      { mark: { type: 'line', strokeDash: [4, 3] }, encoding: { y: { field: 'average', type: 'quantitative' } } },
    ],
    width: 560,
    height: 300,
  }),
};
