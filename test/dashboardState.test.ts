import test from 'ava';
import { counterRates, DashboardHistory, displayState, histogramDelta, histogramOf, histogramQuantile, HISTORY_POINTS_MAX, parsePrometheusText, pushBounded, ringSummary } from '../src/dashboardState.ts';
import { initialAssignment, preferenceList } from '../src/ring.ts';

/** As prom-client writes a histogram with an `op` label, plus a counter and noise. */
const METRICS = `# HELP dkv_request_duration_seconds Client request latency
# TYPE dkv_request_duration_seconds histogram
dkv_request_duration_seconds_bucket{le="0.001",op="get"} 10
dkv_request_duration_seconds_bucket{le="0.01",op="get"} 90
dkv_request_duration_seconds_bucket{le="0.1",op="get"} 100
dkv_request_duration_seconds_bucket{le="+Inf",op="get"} 100
dkv_request_duration_seconds_sum{op="get"} 0.5
dkv_request_duration_seconds_count{op="get"} 100
dkv_request_duration_seconds_bucket{le="0.001",op="put"} 0
dkv_request_duration_seconds_bucket{le="0.01",op="put"} 50
dkv_request_duration_seconds_bucket{le="0.1",op="put"} 100
dkv_request_duration_seconds_bucket{le="+Inf",op="put"} 100
dkv_request_duration_seconds_sum{op="put"} 2
dkv_request_duration_seconds_count{op="put"} 100
# TYPE dkv_requests_total counter
dkv_requests_total{op="get",outcome="ok"} 100 1700000000000
dkv_weird{path="a\\"b\\\\c\\nd"} 1
not a sample line {
process_start_time_seconds 1.7e9
`;

test('dashboard state - pushBounded keeps the newest items', (t) => {
  const list: number[] = [];
  for (let i = 0; i < 10; i++) pushBounded(list, i, 4);
  t.deepEqual(list, [6, 7, 8, 9]);
});

test('dashboard state - counter rates per second; a counter that went down was reset', (t) => {
  t.deepEqual(counterRates({ gets: 10, writes: 100, readRepairs: 'x' }, { gets: 30, writes: 5, readRepairs: 3 }, 2_000, ['gets', 'writes', 'readRepairs', 'missing']), { gets: 10, writes: 2.5 });
  t.deepEqual(counterRates({ gets: 1 }, { gets: 2 }, 0, ['gets']), {});
});

test('dashboard state - Prometheus text: labels, escapes, timestamps, comments and junk', (t) => {
  const samples = parsePrometheusText(METRICS);
  t.is(samples.length, 15);
  t.deepEqual(samples.find((s) => s.name === 'dkv_requests_total'), { name: 'dkv_requests_total', labels: { op: 'get', outcome: 'ok' }, value: 100 });
  t.deepEqual(samples.find((s) => s.name === 'dkv_weird')!.labels, { path: 'a"b\\c\nd' });
  t.is(samples.find((s) => s.name === 'process_start_time_seconds')!.value, 1.7e9);
  t.is(samples.find((s) => s.labels.le === '+Inf')!.value, 100);
});

test('dashboard state - a histogram summed over ops, or one op; quantiles interpolate within a bucket', (t) => {
  const samples = parsePrometheusText(METRICS);
  const all = histogramOf(samples, 'dkv_request_duration_seconds')!;
  t.deepEqual(all.buckets, [
    { le: 0.001, count: 10 },
    { le: 0.01, count: 140 },
    { le: 0.1, count: 200 },
    { le: Infinity, count: 200 },
  ]);
  t.is(all.count, 200);
  t.is(all.sum, 2.5);
  const get = histogramOf(samples, 'dkv_request_duration_seconds', { op: 'get' })!;
  // rank 50 of 100 falls in (0.001, 0.01] holding 10..90: 0.001 + 0.009 * 40/80.
  t.true(Math.abs(histogramQuantile(0.5, get)! - (0.001 + 0.009 * 0.5)) < 1e-12);
  // rank 99 falls in (0.01, 0.1] holding 90..100.
  t.true(Math.abs(histogramQuantile(0.99, get)! - (0.01 + 0.09 * 0.9)) < 1e-12);
  t.is(histogramQuantile(0.5, { buckets: [{ le: 1, count: 0 }, { le: Infinity, count: 0 }], count: 0, sum: 0 }), undefined);
  t.is(histogramQuantile(0.99, { buckets: [{ le: 1, count: 1 }, { le: Infinity, count: 10 }], count: 10, sum: 0 }), 1, 'in +Inf: the highest finite bound');
  t.is(histogramOf(samples, 'nope'), undefined);
});

test('dashboard state - a histogram delta is what was counted between scrapes; a restart starts over', (t) => {
  const a = { buckets: [{ le: 0.01, count: 5 }, { le: Infinity, count: 10 }], count: 10, sum: 1 };
  const b = { buckets: [{ le: 0.01, count: 6 }, { le: Infinity, count: 20 }], count: 20, sum: 3 };
  t.deepEqual(histogramDelta(a, b), { buckets: [{ le: 0.01, count: 1 }, { le: Infinity, count: 10 }], count: 10, sum: 2 });
  t.is(histogramDelta(b, a), a);
  t.is(histogramDelta(undefined, a), a);
});

test('dashboard state - the ring as counts and preference lists', (t) => {
  const assignment = initialAssignment(['n1', 'n2', 'n3'], 16);
  const s = ringSummary(assignment, 3, 7)!;
  t.is(s.q, 16);
  t.is(s.version, 7);
  t.deepEqual(s.owners, assignment);
  t.is(Object.values(s.counts).reduce((a, b) => a + b, 0), 16);
  t.deepEqual(Object.keys(s.counts).sort(), ['n1', 'n2', 'n3']);
  for (let p = 0; p < 16; p++) t.deepEqual(s.preferenceLists[p], preferenceList(assignment, p));
  t.is(ringSummary(['n1', 'n2', 'n3'], 3), undefined, 'Q must be a power of two');
});

test('dashboard state - display state of a member', (t) => {
  t.is(displayState({ state: 'up', status: 'valid' }), 'up');
  t.is(displayState({ state: 'unreachable', status: 'valid' }), 'down');
  t.is(displayState({ state: 'up', status: 'valid', downMarked: true }), 'down');
  t.is(displayState({ state: 'up', status: 'joining' }), 'joining');
  t.is(displayState({ state: 'up', status: 'leaving' }), 'leaving');
  t.is(displayState({ state: 'up', status: 'exiting' }), 'leaving');
});

test('dashboard state - history: rates from counter deltas, latency from histogram deltas, bounded', (t) => {
  const h = new DashboardHistory(3);
  const metrics = (getsBelow10ms: number, total: number) =>
    `dkv_request_duration_seconds_bucket{op="get",le="0.01"} ${getsBelow10ms}\ndkv_request_duration_seconds_bucket{op="get",le="+Inf"} ${total}\ndkv_request_duration_seconds_count{op="get"} ${total}\n`;
  const first = h.record({ atMs: 0, members: [{ node: 'n1', state: 'up', requests: { gets: 0, writes: 0 } }], metrics: new Map([['n1', metrics(0, 0)]]) });
  t.deepEqual(first.nodes.n1, { rates: {} });
  const second = h.record({ atMs: 1_000, members: [{ node: 'n1', state: 'up', requests: { gets: 50, writes: 10 } }, { node: 'n2', state: 'unreachable' }], metrics: new Map([['n1', metrics(100, 100)], ['n2', undefined]]) });
  t.deepEqual(second.nodes.n1!.rates, { gets: 50, writes: 10 });
  t.is(second.nodes.n1!.p50Ms, 5);
  t.deepEqual(second.nodes.n2, { rates: {} });
  // Between these scrapes every request took more than 10 ms: the window shows it, not the total.
  const third = h.record({ atMs: 2_000, members: [{ node: 'n1', state: 'up', requests: { gets: 60, writes: 10 } }], metrics: new Map([['n1', metrics(100, 200)]]) });
  t.is(third.nodes.n1!.p50Ms, 10);
  t.is(third.nodes.n1!.rates.gets, 10);
  // No metrics (the subject has no responders): rates only.
  const fourth = h.record({ atMs: 3_000, members: [{ node: 'n1', state: 'up', requests: { gets: 70, writes: 10 } }], metrics: new Map() });
  t.deepEqual(fourth.nodes.n1, { rates: { gets: 10, writes: 0 } });
  t.deepEqual(h.points().map((p) => p.atMs), [1_000, 2_000, 3_000]);
  t.is(HISTORY_POINTS_MAX, 300);
});

test('dashboard state - a node back after a restart: its counters start over', (t) => {
  const h = new DashboardHistory();
  h.record({ atMs: 0, members: [{ node: 'n3', state: 'up', requests: { gets: 1_000 } }], metrics: new Map() });
  h.record({ atMs: 1_000, members: [{ node: 'n3', state: 'unreachable' }], metrics: new Map() });
  const back = h.record({ atMs: 4_000, members: [{ node: 'n3', state: 'up', requests: { gets: 40 } }], metrics: new Map() });
  t.deepEqual(back.nodes.n3!.rates, { gets: 10 });
});
