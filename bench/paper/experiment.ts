/**
 * What an experiment of the paper section is, for bench/paper/run.ts: a name, its parameters (the
 * full size and a quick one for smoke tests), a seed, a run that reports progress and returns
 * series, and a figure spec drawn from those series. Each module reproduces one figure or table of
 * DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store" (SOSP 2007).
 *
 * A run is pure computation or a measurement, but never draws from Math.random for its workload:
 * a computed run gives the same series for the same seed and parameters; a measured one (Table 2)
 * gives the same workload, and latencies that vary from run to run.
 */

/** One point of a series; `x` and `y` are what the figure plots, the rest goes to the data file. */
export interface Point {
  readonly x: number;
  readonly y: number;
  readonly [extra: string]: number | string;
}

export interface Series {
  readonly name: string;
  readonly points: readonly Point[];
}

export interface Result {
  readonly series: readonly Series[];
  /** One-line headline numbers, printed after the run and kept in the data file. */
  readonly summary: readonly string[];
}

/** Called as work completes: `done` of `total` steps (total is fixed for a run). */
export type ProgressFn = (done: number, total: number) => void;

export type Params = Readonly<Record<string, number | string | readonly number[]>>;

/** A vega-lite spec without its data: bench/paper/figure.ts adds the series as `values`. */
export type FigureSpec = Readonly<Record<string, unknown>>;

export interface Experiment<P extends Params = Params> {
  /** The CLI name and the stem of the files written: `npm run paper -- fig8` writes fig8.svg. */
  readonly name: string;
  /** Which figure or table of the paper, and what it shows. */
  readonly title: string;
  readonly defaultSeed: number;
  readonly params: P;
  /** A tiny size for the smoke test and `--quick`: seconds, same series. */
  readonly quickParams: P;
  run(params: P, seed: number, progress: ProgressFn): Result | Promise<Result>;
  /** The figure for a result: a vega-lite spec whose data are the rows of `rows(result)`. */
  figure(result: Result, params: P): FigureSpec;
}

/** The series flattened to one row per point, with the series name: the figure's data and the CSV. */
export function rows(result: Result): Array<Record<string, number | string>> {
  return result.series.flatMap((s) => s.points.map((p) => ({ series: s.name, ...p })));
}
