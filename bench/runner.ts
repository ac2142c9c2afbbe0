/**
 * The closed-loop load generator: `concurrency` requests in flight at all times until `ops`
 * operations completed (or `durationMs` passed). Each latency, from just before the request to
 * the checked reply, goes into an HDR histogram in microseconds; errors are counted by code.
 */
import hdr from 'hdr-histogram-js';
import type { Op, OpKind } from './workload.ts';
import type { OpOutcome } from './targets/target.ts';

/** Latencies above a minute are clamped: no request should take that long (10 s client timeout). */
export const LATENCY_MICROS_MAX = 60_000_000;
/** A bound on in-flight requests: beyond this the load generator measures itself. */
export const CONCURRENCY_MAX = 4_096;

export type Histogram = ReturnType<typeof hdr.build>;

export function newHistogram(): Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: LATENCY_MICROS_MAX, numberOfSignificantValueDigits: 3 });
}

export interface RunOptions {
  /** Operations to complete; the run goes on past them until `minDurationMs` has passed. */
  readonly ops: number;
  /** A floor on the run's length, so that fast targets give enough samples for a stable rate and p99.9. */
  readonly minDurationMs?: number;
  /** Stops issuing new requests after this long, even if `ops` is not reached. */
  readonly durationMs?: number;
  readonly concurrency: number;
  readonly next: () => Op;
  readonly exec: (op: Op) => Promise<OpOutcome>;
  /** Called with the count of completed operations, at most every `progressEveryMs`. */
  readonly onProgress?: (done: number) => void;
  readonly progressEveryMs?: number;
}

export interface RunResult {
  readonly ops: number;
  readonly elapsedMs: number;
  readonly all: Histogram;
  readonly byKind: Record<OpKind, Histogram>;
  /** Error replies by code; failed operations are in the histograms too. */
  readonly errors: Record<string, number>;
}

export async function runClosedLoop(opts: RunOptions): Promise<RunResult> {
  if (!(opts.concurrency >= 1 && opts.concurrency <= CONCURRENCY_MAX)) throw new RangeError(`concurrency must be in 1..${CONCURRENCY_MAX}, got ${opts.concurrency}`);
  const all = newHistogram();
  const byKind: Record<OpKind, Histogram> = { read: newHistogram(), update: newHistogram() };
  const errors: Record<string, number> = {};
  let issued = 0;
  let done = 0;
  const startMs = performance.now();
  const stopAtMs = opts.durationMs ? startMs + opts.durationMs : Infinity;
  const minEndMs = startMs + (opts.minDurationMs ?? 0);
  const more = () => {
    const now = performance.now();
    return now < stopAtMs && (issued < opts.ops || now < minEndMs);
  };
  const progress = opts.onProgress ? setInterval(() => opts.onProgress!(done), opts.progressEveryMs ?? 200) : undefined;

  const worker = async () => {
    while (more()) {
      issued++;
      const op = opts.next();
      const t0 = performance.now();
      const outcome = await opts.exec(op);
      const micros = Math.min(LATENCY_MICROS_MAX, Math.max(1, Math.round((performance.now() - t0) * 1000)));
      all.recordValue(micros);
      byKind[op.kind].recordValue(micros);
      if (outcome !== undefined) errors[outcome] = (errors[outcome] ?? 0) + 1;
      done++;
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, Math.max(1, opts.ops)) }, worker));
  } finally {
    if (progress) clearInterval(progress);
  }
  opts.onProgress?.(done);
  return { ops: done, elapsedMs: performance.now() - startMs, all, byKind, errors };
}

export interface LatencySummary {
  readonly count: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
}

export function summarise(h: Histogram): LatencySummary {
  const ms = (micros: number) => micros / 1000;
  if (h.totalCount === 0) return { count: 0, meanMs: 0, p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 };
  return {
    count: h.totalCount,
    meanMs: ms(h.mean),
    p50Ms: ms(h.getValueAtPercentile(50)),
    p99Ms: ms(h.getValueAtPercentile(99)),
    p999Ms: ms(h.getValueAtPercentile(99.9)),
    maxMs: ms(h.maxValue),
  };
}
