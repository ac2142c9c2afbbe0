import test from 'ava';
import { overloadSvg, overloadTable, type OverloadReport } from '../bench/overload.ts';

const report: OverloadReport = {
  capacityPerS: 4000,
  unloadedP99Ms: 16.8,
  steps: [
    { multiple: 1, offeredPerS: 4000, sentPerS: 4000, goodputPerS: 3990, goodputShare: 0.9975, ok: 39_900, overloaded: 100, otherErrors: 0, noAnswer: 0, p50Ms: 4.4, p99Ms: 47.7, p999Ms: 76, rssMaxMb: 211, peerDown: 0, recoveryMs: 2 },
    { multiple: 10, offeredPerS: 40_000, sentPerS: 26_000, goodputPerS: 800, goodputShare: 0.2, ok: 8_000, overloaded: 150_000, otherErrors: 2_000, noAnswer: 100_000, p50Ms: 1500, p99Ms: 2100, p999Ms: 2150, rssMaxMb: 405, peerDown: 1, recoveryMs: 14 },
  ],
};

test('overload report - one row per step with its shares of every outcome', (t) => {
  const lines = overloadTable(report).split('\n');
  t.regex(lines[0]!, /^load\s+offered\/s\s+goodput\/s\s+of capacity\s+ok\s+overloaded\s+other errors\s+no answer\s+p50 ms\s+p99 ms\s+p99\.9 ms\s+RSS MB\s+peer down\s+recovery ms$/);
  t.is(lines.length, 4);
  t.deepEqual(lines[2]!.trim().split(/\s+/), ['1x', '4000', '3990', '100%', '99.8%', '0.3%', '0.0%', '0.0%', '4.4', '47.7', '76.0', '211', '0', '2']);
  // Shares of all 260,000 outcomes of the 10x step.
  t.deepEqual(lines[3]!.trim().split(/\s+/).slice(0, 8), ['10x', '40000', '800', '20%', '3.1%', '57.7%', '0.8%', '38.5%']);
});

test('overload report - a flood adds one line under the table, with what came back of it', (t) => {
  const flood = { requests: 50_000, ok: 12_000, overloaded: 38_000, otherErrors: 0, noAnswer: 0, lastAnswerMs: 4321, rssMaxMb: 240, peerDown: 0, nodesRunning: 3, nodes: 3 };
  const lines = overloadTable({ ...report, flood }).split('\n');
  t.is(lines.length, 5);
  t.is(lines[4], 'flood of 50000 at once: 12000 ok, 38000 overloaded, 0 other errors, 0 no answer; last answer after 4321 ms; node RSS at most 240 MB; 0 peer-down; 3 of 3 nodes running');
});

test('overload report - the plot draws goodput against offered load, the capacity and the 80% target', (t) => {
  const svg = overloadSvg(report);
  t.true(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  t.regex(svg, /<polyline points="[\d.]+,[\d.]+ [\d.]+,[\d.]+"/);
  t.is((svg.match(/<circle /g) ?? []).length, 2);
  t.regex(svg, /closed-loop capacity 4000\/s/);
  t.regex(svg, /target: 80%/);
  t.regex(svg, />1x: 100%</);
  t.regex(svg, />10x: 20%</);
});
