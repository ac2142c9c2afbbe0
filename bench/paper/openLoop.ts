/**
 * An open-loop load generator: requests arrive at a fixed mean rate whatever the target does
 * (Poisson arrivals from a seeded PRNG), and each request's latency is counted from the moment it
 * was due, not from when it was sent, so a target that falls behind shows the queueing it causes
 * (no coordinated omission, unlike a closed loop, whose clients wait before they ask again).
 * Latencies go into one histogram per time window of the due times, for a plot over time.
 */
import type { OpOutcome } from '../targets/target.ts';
import type { Random } from '../random.ts';
import { LATENCY_MICROS_MAX, newHistogram, type Histogram } from '../runner.ts';

export interface OpenLoopOptions {
  /** Mean arrivals per second. */
  readonly ratePerS: number;
  readonly windowMs: number;
  readonly windows: number;
  /**
   * Requests outstanding at most: an arrival past it is not sent and counts as `shed` in its
   * window, so a target that stalls cannot make the generator hold an unbounded backlog.
   */
  readonly inFlightMax: number;
  readonly random: Random;
  readonly exec: () => Promise<OpOutcome>;
  /** Called as each window's arrivals are all due (not yet all answered). */
  readonly onWindow?: (index: number) => void;
}

export interface WindowResult {
  readonly latency: Histogram;
  readonly errors: number;
  readonly shed: number;
}

/** `errorCodes`: failed writes by the target's outcome code (over all windows). */
export async function runOpenLoop(o: OpenLoopOptions): Promise<{ windows: WindowResult[]; all: Histogram; errorCodes: Record<string, number>; elapsedMs: number }> {
  if (!(o.ratePerS > 0) || !(o.windowMs > 0) || !(o.windows >= 1) || !(o.inFlightMax >= 1)) throw new RangeError(`open loop: rate, window, windows and in-flight bound must be positive, got ${JSON.stringify({ ...o, random: undefined, exec: undefined })}`);
  const windows = Array.from({ length: o.windows }, () => ({ latency: newHistogram(), errors: 0, shed: 0 }));
  const all = newHistogram();
  const errorCodes: Record<string, number> = {};
  const durationMs = o.windowMs * o.windows;
  const inFlight = new Set<Promise<void>>();
  const startMs = performance.now();
  let dueMs = 0;
  let windowsDone = 0;
  for (;;) {
    // Exponential gaps make Poisson arrivals; 1 - random() is in (0, 1], so the log is finite.
    dueMs += (-Math.log(1 - o.random()) / o.ratePerS) * 1000;
    if (dueMs >= durationMs) break;
    const w = windows[Math.floor(dueMs / o.windowMs)]!;
    while (windowsDone < Math.floor(dueMs / o.windowMs)) o.onWindow?.(windowsDone++);
    const nowMs = performance.now() - startMs;
    // Behind schedule, the due requests go at once (a timer cannot fire sooner than 1 ms anyway).
    if (dueMs > nowMs + 1) await new Promise((r) => setTimeout(r, dueMs - nowMs));
    if (inFlight.size >= o.inFlightMax) {
      w.shed++;
      continue;
    }
    const dueAt = startMs + dueMs;
    const settle = (outcome: OpOutcome) => {
      const micros = Math.min(LATENCY_MICROS_MAX, Math.max(1, Math.round((performance.now() - dueAt) * 1000)));
      w.latency.recordValue(micros);
      all.recordValue(micros);
      if (outcome !== undefined) {
        w.errors++;
        errorCodes[outcome] = (errorCodes[outcome] ?? 0) + 1;
      }
      inFlight.delete(request);
    };
    // A target reports failures as outcomes; a throw is one more failure, never an unhandled rejection.
    const request: Promise<void> = o.exec().then(settle, () => settle('client_error'));
    inFlight.add(request);
  }
  while (windowsDone < o.windows) o.onWindow?.(windowsDone++);
  await Promise.all(inFlight);
  return { windows, all, errorCodes, elapsedMs: performance.now() - startMs };
}
