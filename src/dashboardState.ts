/**
 * What the dashboard (`dkv dashboard`, src/cli/dashboard.ts) makes of the public subjects: a
 * bounded history of each node's throughput, from the deltas of its `status` request counters
 * between polls, and its latency, from the `dkv_request_duration_seconds` histogram of its
 * `node.<ID>.metrics` reply (Prometheus text) when that subject answers; the ring as owner
 * counts and preference lists; each member's state as the page shows it.
 *
 * Pure: the caller polls and passes the time of each poll in.
 */
import { ownedCounts, Ring } from './ring.ts';

/** Points of history kept: five minutes at one poll a second. */
export const HISTORY_POINTS_MAX = 300;
/** The latency histogram the nodes' metrics expose (seconds, one series per `op`). */
export const LATENCY_HISTOGRAM = 'dkv_request_duration_seconds';

/** The `requests` counters of status that the history turns into rates. */
export const RATE_COUNTERS = ['gets', 'writes', 'readRepairs', 'siblingReads', 'failures'] as const;
export type RateCounter = (typeof RATE_COUNTERS)[number];

export interface NodePoint {
  /** Per second since the previous poll, for each of RATE_COUNTERS (absent on a node's first poll). */
  readonly rates: Partial<Record<RateCounter, number>>;
  /** Request latency over the same interval, in milliseconds, when the node's metrics answered. */
  readonly p50Ms?: number;
  readonly p99Ms?: number;
}

export interface HistoryPoint {
  readonly atMs: number;
  readonly nodes: Record<string, NodePoint>;
}

/** Appends `item`, dropping the oldest items beyond `max`. Mutates and returns `list`. */
export function pushBounded<T>(list: T[], item: T, max: number): T[] {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
  return list;
}

/**
 * Rates per second between two readings of counters. A counter that went down was reset (the
 * node restarted): its new value is what it counted since, as Prometheus's rate() takes it.
 */
export function counterRates(prev: Readonly<Record<string, unknown>>, next: Readonly<Record<string, unknown>>, elapsedMs: number, counters: readonly string[]): Record<string, number> {
  const rates: Record<string, number> = {};
  if (!(elapsedMs > 0)) return rates;
  for (const c of counters) {
    const a = prev[c];
    const b = next[c];
    if (typeof a !== 'number' || typeof b !== 'number') continue;
    const delta = b >= a ? b - a : b;
    rates[c] = (delta * 1000) / elapsedMs;
  }
  return rates;
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition format (version 0.0.4)

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

function parseValue(text: string): number {
  if (text === '+Inf' || text === 'Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  return Number(text);
}

/** The samples of a Prometheus text exposition; comments, blank and malformed lines are skipped. */
export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const nameMatch = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line);
    if (!nameMatch) continue;
    const name = nameMatch[0];
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith('{')) {
      let i = 1;
      let ok = false;
      for (;;) {
        while (rest[i] === ' ' || rest[i] === ',') i++;
        if (rest[i] === '}') {
          ok = true;
          i++;
          break;
        }
        const labelMatch = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"/.exec(rest.slice(i));
        if (!labelMatch) break;
        i += labelMatch[0].length;
        let value = '';
        for (; i < rest.length && rest[i] !== '"'; i++) {
          if (rest[i] === '\\' && i + 1 < rest.length) {
            const e = rest[++i];
            value += e === 'n' ? '\n' : e;
          } else {
            value += rest[i];
          }
        }
        if (rest[i] !== '"') break;
        i++;
        labels[labelMatch[1]!] = value;
      }
      if (!ok) continue;
      rest = rest.slice(i);
    }
    const fields = rest.trim().split(/\s+/);
    if (fields.length < 1 || fields[0] === '') continue;
    const value = parseValue(fields[0]!);
    if (Number.isNaN(value) && fields[0] !== 'NaN') continue;
    samples.push({ name, labels, value });
  }
  return samples;
}

/** A cumulative histogram: counts at or below each upper bound `le`, ascending, the last +Inf. */
export interface Histogram {
  readonly buckets: ReadonlyArray<{ readonly le: number; readonly count: number }>;
  readonly count: number;
  readonly sum: number;
}

/**
 * The histogram `name` from samples, its series summed over every label but `le` (all ops of a
 * node together), or only the series whose labels include `match`. Undefined when absent.
 */
export function histogramOf(samples: readonly Sample[], name: string, match: Readonly<Record<string, string>> = {}): Histogram | undefined {
  const matches = (labels: Readonly<Record<string, string>>) => Object.entries(match).every(([k, v]) => labels[k] === v);
  const byLe = new Map<number, number>();
  let count = 0;
  let sum = 0;
  let seen = false;
  for (const s of samples) {
    if (!matches(s.labels)) continue;
    if (s.name === `${name}_bucket` && s.labels.le !== undefined) {
      const le = parseValue(s.labels.le);
      if (Number.isNaN(le)) continue;
      byLe.set(le, (byLe.get(le) ?? 0) + s.value);
      seen = true;
    } else if (s.name === `${name}_count`) {
      count += s.value;
    } else if (s.name === `${name}_sum`) {
      sum += s.value;
    }
  }
  if (!seen) return undefined;
  const buckets = [...byLe].sort(([a], [b]) => a - b).map(([le, c]) => ({ le, count: c }));
  return { buckets, count, sum };
}

/**
 * What a histogram counted between two scrapes. A count that went down means the node restarted
 * in between: then `next` alone is what it counted since. Bounds missing from `prev` count from 0.
 */
export function histogramDelta(prev: Histogram | undefined, next: Histogram): Histogram {
  if (!prev || next.count < prev.count) return next;
  const before = new Map(prev.buckets.map((b) => [b.le, b.count]));
  if (next.buckets.some((b) => b.count < (before.get(b.le) ?? 0))) return next;
  return { buckets: next.buckets.map((b) => ({ le: b.le, count: b.count - (before.get(b.le) ?? 0) })), count: next.count - prev.count, sum: next.sum - prev.sum };
}

/**
 * The q-quantile (0..1) of a histogram, interpolated linearly within its bucket as Prometheus's
 * histogram_quantile() does: undefined for an empty histogram; the highest finite bound when it
 * falls in the +Inf bucket.
 */
export function histogramQuantile(q: number, h: Histogram): number | undefined {
  const buckets = h.buckets;
  const total = buckets.length > 0 ? buckets[buckets.length - 1]!.count : 0;
  if (!(total > 0) || !(q >= 0 && q <= 1)) return undefined;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const b of buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return prevLe;
      if (b.count === prevCount) return b.le;
      const lower = prevLe > b.le ? 0 : prevLe;
      return lower + ((b.le - lower) * (rank - prevCount)) / (b.count - prevCount);
    }
    prevLe = b.le;
    prevCount = b.count;
  }
  return prevLe;
}

// ---------------------------------------------------------------------------------------------
// The ring and the members

export interface RingSummary {
  readonly version: number | undefined;
  readonly q: number;
  readonly n: number;
  /** The owner of each partition. */
  readonly owners: readonly string[];
  /** Partitions owned, per node. */
  readonly counts: Record<string, number>;
  /** Per partition: the first `n` nodes of its preference list (its replicas), then the fallbacks. */
  readonly preferenceLists: ReadonlyArray<readonly string[]>;
}

/** The ring as the page draws it; undefined when `assignment` is not a ring. */
export function ringSummary(assignment: readonly string[], n: number, version?: number): RingSummary | undefined {
  let ring: Ring;
  try {
    ring = new Ring(assignment);
  } catch {
    return undefined;
  }
  const preferenceLists = Array.from({ length: ring.q }, (_, p) => [...ring.preferenceList(p)]);
  return { version, q: ring.q, n, owners: [...ring.assignment], counts: Object.fromEntries(ownedCounts(ring.assignment)), preferenceLists };
}

export type DisplayState = 'up' | 'down' | 'joining' | 'leaving';

/**
 * A member's state on the page: `down` when it did not report its figures to the node that
 * answered status (or the cluster marked it down), else its membership status when it is on its
 * way in or out, else `up`.
 */
export function displayState(member: { state?: unknown; status?: unknown; downMarked?: unknown }): DisplayState {
  if (member.state !== 'up' || member.downMarked === true) return 'down';
  if (member.status === 'joining') return 'joining';
  if (member.status === 'leaving' || member.status === 'exiting') return 'leaving';
  return 'up';
}

// ---------------------------------------------------------------------------------------------
// The history

interface NodeReading {
  readonly atMs: number;
  readonly requests: Readonly<Record<string, unknown>> | undefined;
  readonly latency: Histogram | undefined;
}

/** One poll: the status reply's members, and each node's metrics text (undefined: none answered). */
export interface Poll {
  readonly atMs: number;
  readonly members: ReadonlyArray<{ node?: unknown; state?: unknown; requests?: unknown }>;
  readonly metrics: ReadonlyMap<string, string | undefined>;
}

/** Per-node rates and latency over the last HISTORY_POINTS_MAX polls. */
export class DashboardHistory {
  readonly #points: HistoryPoint[] = [];
  readonly #last = new Map<string, NodeReading>();

  constructor(private readonly pointsMax = HISTORY_POINTS_MAX) {}

  record(poll: Poll): HistoryPoint {
    const nodes: Record<string, NodePoint> = {};
    for (const m of poll.members) {
      if (typeof m.node !== 'string') continue;
      const requests = m.state === 'up' && m.requests && typeof m.requests === 'object' ? (m.requests as Record<string, unknown>) : undefined;
      const text = poll.metrics.get(m.node);
      const latency = text !== undefined ? histogramOf(parsePrometheusText(text), LATENCY_HISTOGRAM) : undefined;
      const prev = this.#last.get(m.node);
      const point: { rates: Partial<Record<RateCounter, number>>; p50Ms?: number; p99Ms?: number } = { rates: {} };
      if (requests && prev?.requests) point.rates = counterRates(prev.requests, requests, poll.atMs - prev.atMs, RATE_COUNTERS);
      if (latency) {
        const window = histogramDelta(prev?.latency, latency);
        const p50 = histogramQuantile(0.5, window);
        const p99 = histogramQuantile(0.99, window);
        if (p50 !== undefined) point.p50Ms = p50 * 1000;
        if (p99 !== undefined) point.p99Ms = p99 * 1000;
      }
      nodes[m.node] = point;
      // A node that did not report keeps its last reading, so its first poll back has a delta.
      if (requests || latency) this.#last.set(m.node, { atMs: poll.atMs, requests: requests ?? prev?.requests, latency: latency ?? prev?.latency });
    }
    const point = { atMs: poll.atMs, nodes };
    pushBounded(this.#points, point, this.pointsMax);
    return point;
  }

  points(): readonly HistoryPoint[] {
    return this.#points;
  }
}
