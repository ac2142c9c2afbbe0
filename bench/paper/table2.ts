/**
 * Table 2 of the Dynamo paper (§6.4): average and 99.9th percentile latency of reads and writes,
 * server-driven coordination against client-driven.
 *
 * One dkv cluster, real `dkv node` processes with lmdb storage (`--sync periodic`) on a nats-server
 * of their own (bench/targets/dkv.ts), more nodes than N so that where a request lands matters.
 * One load generator in this process measures the two modes in the same run, in alternating
 * rounds (A B B A ...), so that both see the same cluster, the same warm caches and the same noise:
 *
 * - server-driven: a request goes to the queue group (`dkv.<cluster>.batch`) and NATS hands it to
 *   any node, which coordinates it; with 5 nodes and N = 3 that node holds no replica of the key 2
 *   times in 5, and must forward a write or ask every replica of a read. The client ignores the
 *   coordinator its contexts name (`coordinatorHints: false`).
 * - client-driven: dkv's client library with ring-aware routing (src/client/client.ts, `routing`)
 *   sends each request to one of the key's owners, `dkv.<cluster>.node.<ID>.batch`; a write whose
 *   context names a node goes to that node instead (Dynamo's write coordinator, below).
 *
 * Both modes send exactly one operation per request: the client library's routing needs its
 * pipeline, so every in-flight slot has a client of its own (over the one NATS connection) and
 * never has more than one call queued, so each batch holds one operation in both modes. The
 * message format, the node's code path and the load are then the same; only the routing differs.
 *
 * Dynamo's write coordinator (§6.4), as the paper's client-driven writes have it: a get's context
 * names the owner that answered it first, a put's the owner that coordinated it (src/context.ts),
 * and the client-driven write goes to that node. The summary says how many writes named one.
 *
 * Workload: zipfian keys (YCSB, s = 0.99, scrambled), half reads and half writes; a write carries
 * the context of the last reply seen for its key, as a read-modify-write client would. Closed
 * loop with 4 requests in flight: on this 2-core machine (5 nodes, nats-server and the generator
 * share it) one in flight gives about 250 operations/s at 3 ms, 4 about 400-600/s, and 16 saturate
 * it (about 600/s, every request queued behind others), which measures the queues, not the routing. The key choices come from the seed
 * (mulberry32); the latencies are a measurement and vary run to run.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkvClient } from '../../src/client/client.ts';
import { contextCoordinator } from '../../src/context.ts';
import { DkvTarget } from '../targets/dkv.ts';
import { mulberry32 } from '../random.ts';
import { newHistogram, runClosedLoop, summarise, type Histogram } from '../runner.ts';
import { OpStream, WORKLOADS, keyName, valueFor, type Op } from '../workload.ts';
import { Zipf } from '../zipf.ts';
import type { Experiment, Point, ProgressFn, Result, Series } from './experiment.ts';

export const MODES = ['server-driven', 'client-driven'] as const;
export type Mode = (typeof MODES)[number];
export const KINDS = ['read', 'write'] as const;
export type Kind = (typeof KINDS)[number];
export const STATS = ['average', 'p99.9'] as const;

/** Table 2 of the paper, in ms. */
export const PAPER: Readonly<Record<Mode, Readonly<Record<Kind, { readonly average: number; readonly p999: number }>>>> = {
  'server-driven': { read: { average: 3.9, p999: 68.9 }, write: { average: 4.02, p999: 68.5 } },
  'client-driven': { read: { average: 1.55, p999: 30.4 }, write: { average: 1.9, p999: 30.4 } },
};

export interface Table2Params {
  readonly [name: string]: number | string;
  readonly nodes: number;
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly sync: 'periodic' | 'always';
  readonly keys: number;
  readonly valueBytes: number;
  /** Requests in flight at all times (closed loop). */
  readonly concurrency: number;
  /** Measured rounds per mode; the modes alternate A B B A ... */
  readonly rounds: number;
  /** Operations per round. */
  readonly opsPerRound: number;
  /** Operations of each mode first, not measured (connections, lmdb pages, the JIT). */
  readonly warmupOps: number;
}

export function seriesName(mode: Mode, kind: Kind): string {
  return `${mode} ${kind}`;
}

/** Round i's mode: A B B A A B B A ..., so neither mode always runs first or last. */
export function modeOfRound(i: number): Mode {
  return MODES[[0, 1, 1, 0][i % 4]!]!;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** A pool of clients, one per in-flight request: each batch holds one operation. */
class ClientPool {
  private readonly free: DkvClient[];
  constructor(readonly clients: readonly DkvClient[]) {
    this.free = [...clients];
  }
  async use<T>(f: (c: DkvClient) => Promise<T>): Promise<T> {
    const c = this.free.pop();
    if (c === undefined) throw new Error('client pool empty: more requests in flight than clients');
    try {
      return await f(c);
    } finally {
      this.free.push(c);
    }
  }
}

export async function runTable2(params: Table2Params, seed: number, progress: ProgressFn = () => {}): Promise<Result> {
  const { nodes, n, r, w, sync, keys, valueBytes, concurrency, rounds, opsPerRound, warmupOps } = params;
  if (nodes <= n) throw new RangeError(`with ${nodes} nodes and N = ${n} every node holds every key: routing would not matter`);
  const total = keys + 2 * warmupOps + 2 * rounds * opsPerRound;
  let done = 0;
  progress(0, total);

  const dataDir = mkdtempSync(join(tmpdir(), 'dkv-table2-'));
  const target = await DkvTarget.start({ via: 'protocol', nodes, n, r, w, storage: 'lmdb', sync, dataDir, keys, valueBytes, name: 'table2' });
  const clients: Record<Mode, DkvClient[]> = { 'server-driven': [], 'client-driven': [] };
  try {
    for (let i = 0; i < concurrency; i++) {
      clients['server-driven'].push(DkvClient.over(target.nc, 'local', REQUEST_TIMEOUT_MS, true, false, false));
      clients['client-driven'].push(DkvClient.over(target.nc, 'local', REQUEST_TIMEOUT_MS, true, true, true));
    }
    await Promise.all(clients['client-driven'].map((c) => c.refreshRing()));
    if (clients['client-driven'].some((c) => c.ringVersion === undefined)) throw new Error('the routing clients got no ring');
    const pools: Record<Mode, ClientPool> = { 'server-driven': new ClientPool(clients['server-driven']), 'client-driven': new ClientPool(clients['client-driven']) };

    // The last reply's context per key, shared by both modes: the writes are read-modify-writes.
    const contexts = new Map<number, string>();
    let version = 0;
    /** Measured writes, and those whose context named a coordinator, per mode. */
    const writes: Record<Mode, { all: number; named: number }> = { 'server-driven': { all: 0, named: 0 }, 'client-driven': { all: 0, named: 0 } };
    let measuring = false;
    const exec = (mode: Mode) => async (op: Op) => {
      const pool = pools[mode];
      const key = keyName(op.keyIndex);
      try {
        if (op.kind === 'read') {
          const reply = await pool.use((c) => c.get(key));
          contexts.set(op.keyIndex, reply.context);
          if (!reply.found) return 'not_found';
        } else {
          const context = contexts.get(op.keyIndex);
          if (measuring) {
            writes[mode].all++;
            if (contextCoordinator(context) !== undefined) writes[mode].named++;
          }
          const reply = await pool.use((c) => c.put(key, valueFor(key, ++version, valueBytes), context === undefined ? {} : { context }));
          contexts.set(op.keyIndex, reply.context);
        }
        return undefined;
      } catch (err) {
        return String((err as { code?: unknown }).code ?? 'client_error');
      }
    };

    // Preload: every key once, so that reads find a value.
    const preload = clients['server-driven'][0]!;
    for (let start = 0; start < keys; start += 100) {
      const batch = Array.from({ length: Math.min(100, keys - start) }, (_, i) => start + i);
      const replies = await Promise.all(batch.map((k) => preload.put(keyName(k), valueFor(keyName(k), 0, valueBytes))));
      replies.forEach((reply, i) => contexts.set(batch[i]!, reply.context));
      done += batch.length;
      progress(done, total);
    }

    const zipf = new Zipf({ items: keys, scrambleSeed: mulberry32(seed ^ 0x5eed) });
    const streams: Record<Mode, OpStream> = {
      'server-driven': new OpStream(WORKLOADS.A, keys, mulberry32(seed), zipf),
      'client-driven': new OpStream(WORKLOADS.A, keys, mulberry32(seed + 1), zipf),
    };
    const histograms: Record<Mode, Record<Kind, Histogram>> = {
      'server-driven': { read: newHistogram(), write: newHistogram() },
      'client-driven': { read: newHistogram(), write: newHistogram() },
    };
    const perRound: Record<Mode, Record<Kind, Array<{ average: number; p999: number }>>> = {
      'server-driven': { read: [], write: [] },
      'client-driven': { read: [], write: [] },
    };
    const errors: Record<Mode, Record<string, number>> = { 'server-driven': {}, 'client-driven': {} };
    const elapsedMs: Record<Mode, number> = { 'server-driven': 0, 'client-driven': 0 };

    const round = async (mode: Mode, ops: number, measured: boolean) => {
      const before = done;
      measuring = measured;
      const result = await runClosedLoop({
        ops,
        concurrency,
        next: () => streams[mode].next(),
        exec: exec(mode),
        onProgress: (d) => progress(before + d, total),
        progressEveryMs: 250,
      });
      done = before + ops;
      progress(done, total);
      const health = target.health();
      if (health.length > 0) throw new Error(`the cluster failed during the run: ${health.join('; ')}`);
      if (!measured) return;
      histograms[mode].read.add(result.byKind.read);
      histograms[mode].write.add(result.byKind.update);
      for (const kind of KINDS) {
        const s = summarise(result.byKind[kind === 'read' ? 'read' : 'update']);
        perRound[mode][kind].push({ average: s.meanMs, p999: s.p999Ms });
      }
      for (const [code, count] of Object.entries(result.errors)) errors[mode][code] = (errors[mode][code] ?? 0) + count;
      elapsedMs[mode] += result.elapsedMs;
    };

    for (const mode of MODES) await round(mode, warmupOps, false);
    for (let i = 0; i < 2 * rounds; i++) await round(modeOfRound(i), opsPerRound, true);

    const ms = (v: number) => Math.round(v * 1000) / 1000;
    const series: Series[] = [];
    for (const mode of MODES) {
      for (const kind of KINDS) {
        const s = summarise(histograms[mode][kind]);
        const rs = perRound[mode][kind];
        const common = { mode, kind, count: s.count, p50: ms(s.p50Ms), p99: ms(s.p99Ms), max: ms(s.maxMs), errors: Object.values(errors[mode]).reduce((a, b) => a + b, 0) };
        const points: Point[] = [
          { x: 0, y: ms(s.meanMs), stat: 'average', roundMin: ms(Math.min(...rs.map((x) => x.average))), roundMax: ms(Math.max(...rs.map((x) => x.average))), paper: PAPER[mode][kind].average, ...common },
          { x: 1, y: ms(s.p999Ms), stat: 'p99.9', roundMin: ms(Math.min(...rs.map((x) => x.p999))), roundMax: ms(Math.max(...rs.map((x) => x.p999))), paper: PAPER[mode][kind].p999, ...common },
        ];
        series.push({ name: seriesName(mode, kind), points });
      }
    }
    const at = (mode: Mode, kind: Kind, stat: 0 | 1) => series.find((s) => s.name === seriesName(mode, kind))!.points[stat]!.y;
    const summary: string[] = [];
    for (const kind of KINDS) {
      summary.push(
        `${kind}s p99.9: server-driven ${at('server-driven', kind, 1).toFixed(2)} ms -> client-driven ${at('client-driven', kind, 1).toFixed(2)} ms (paper ${PAPER['server-driven'][kind].p999} -> ${PAPER['client-driven'][kind].p999} ms)`,
        `${kind}s average: server-driven ${at('server-driven', kind, 0).toFixed(2)} ms -> client-driven ${at('client-driven', kind, 0).toFixed(2)} ms (paper ${PAPER['server-driven'][kind].average} -> ${PAPER['client-driven'][kind].average} ms)`,
      );
    }
    for (const mode of MODES) {
      const count = KINDS.reduce((a, k) => a + histograms[mode][k].totalCount, 0);
      const errs = Object.entries(errors[mode]).map(([c, k]) => `${c} ${k}`).join(', ') || 'none';
      summary.push(`${mode}: ${count} operations in ${(elapsedMs[mode] / 1000).toFixed(1)} s (${Math.round((count / elapsedMs[mode]) * 1000)}/s), errors: ${errs}`);
      const followed = mode === 'client-driven' ? 'followed' : 'ignored';
      summary.push(`${mode}: ${writes[mode].named} of ${writes[mode].all} writes carried a context naming a coordinator (${followed})`);
    }
    summary.push('latencies are measured on this machine and vary from run to run; the seed fixes only the key choices');
    return { series, summary };
  } finally {
    for (const c of [...clients['server-driven'], ...clients['client-driven']]) await c.close();
    await target.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export const table2: Experiment<Table2Params> = {
  name: 'table2',
  title: 'Table 2: average and p99.9 latency of reads and writes, server-driven against client-driven coordination (5 nodes, N = 3, R = W = 2)',
  defaultSeed: 2,
  params: { nodes: 5, n: 3, r: 2, w: 2, sync: 'periodic', keys: 10_000, valueBytes: 100, concurrency: 4, rounds: 6, opsPerRound: 10_000, warmupOps: 3_000 },
  quickParams: { nodes: 5, n: 3, r: 2, w: 2, sync: 'periodic', keys: 300, valueBytes: 100, concurrency: 4, rounds: 2, opsPerRound: 400, warmupOps: 200 },
  run: runTable2,
  figure: (_result, params) => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Read and write latency, server- against client-driven (${params.nodes} nodes, N = ${params.n}, R = ${params.r}, W = ${params.w}; Dynamo Table 2)`, fontSize: 13 },
    mark: 'bar',
    encoding: {
      column: { field: 'stat', type: 'nominal', title: null, sort: [...STATS] },
      x: { field: 'kind', type: 'nominal', title: null, sort: [...KINDS] },
      xOffset: { field: 'mode', type: 'nominal', sort: [...MODES] },
      y: { field: 'y', type: 'quantitative', title: 'Latency (ms)' },
      color: { field: 'mode', type: 'nominal', title: null, sort: [...MODES] },
      tooltip: [{ field: 'series' }, { field: 'stat' }, { field: 'y' }, { field: 'paper' }],
    },
    width: 220,
    height: 260,
    resolve: { scale: { y: 'independent' } },
  }),
};
