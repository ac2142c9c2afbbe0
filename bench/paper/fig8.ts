/**
 * Fig. 8 of the Dynamo paper (§6.2): load-balancing efficiency against the size of the membership
 * metadata each node keeps, for the three partitioning strategies, at S = 30 nodes and N = 3.
 *
 * - Strategy 1: T random tokens per node; a key belongs to the first N distinct nodes met walking
 *   clockwise from its position (the partition is the range between tokens).
 * - Strategy 2: T random tokens per node and Q equal partitions; a partition goes to the first N
 *   distinct nodes met walking clockwise from the partition's end. Tokens place, never cut.
 * - Strategy 3: Q equal partitions, Q/S per node. This is dkv's own ring (src/ring.ts): the
 *   assignment is `initialAssignment` of the 30 nodes, the replicas are `Ring.replicas(p, N)`.
 *
 * Metadata, in the paper's abstract units: the tokens of the whole membership that every node
 * keeps, S*T for strategies 1 and 2 and Q (one owner per partition) for strategy 3.
 *
 * Load: a request for a key counts 1/N at each of its N replicas (every replica stores the key and
 * any of them may coordinate it or answer a read), so N matters and a node's loads sum to the
 * requests. Keys are uniform: `key-<32 random bits>` hashed with md5 as dkv does, so the measure is
 * the ring's geometry plus sampling noise, not one hot key (a zipfian key stream would put several
 * percent of all requests on a single key and measure that key rather than the strategy).
 * Efficiency = mean load per node / load of the hottest node. Alongside each measured value the
 * expected one (each node's exact share of the hash space, the limit of many requests) is kept.
 */
import { hash } from 'node:crypto';
import { Ring, initialAssignment, Q_MAX } from '../../src/ring.ts';
import { mulberry32, type Random } from '../random.ts';
import type { Experiment, Point, ProgressFn, Result, Series } from './experiment.ts';

/** Positions on the ring are the top 32 bits of md5: [0, 2^32). */
export const RING_SIZE = 0x1_0000_0000;

/** Where keys go: to a node index in [0, nodes) for each of N replicas. */
export interface Placement {
  readonly nodes: number;
  readonly replicas: number;
  /** The N distinct replicas, first the coordinator, of a key at `position` in [0, 2^32). */
  replicasAt(position: number): readonly number[];
  /** Ranges [start, end) that tile [0, 2^32), each with its replicas: for the expected loads. */
  ranges(): Iterable<{ readonly start: number; readonly end: number; readonly replicas: readonly number[] }>;
}

/** FNV-1a of the label mixed into the seed: independent streams for tokens and requests per trial. */
export function stream(seed: number, label: string): Random {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return mulberry32(h);
}

/** A uniform 32-bit unsigned integer (mulberry32's output is k / 2^32, so this is exact). */
function uint32(random: Random): number {
  return random() * RING_SIZE;
}

/** The ring position of a key: the first 4 bytes of md5(key), as src/ring.ts's partitionOf reads them. */
export function positionOf(key: string): number {
  return hash('md5', key, 'buffer').readUInt32BE(0);
}

/** `count` request positions: keys named from 32 random bits, hashed with md5. */
export function requestPositions(count: number, random: Random): Uint32Array {
  const positions = new Uint32Array(count);
  for (let i = 0; i < count; i++) positions[i] = positionOf(`key-${uint32(random).toString(16)}`);
  return positions;
}

/** T random tokens for each of `nodes` nodes, sorted by position, with their owners. */
export interface Tokens {
  readonly positions: Float64Array;
  readonly owners: Int32Array;
}

export function randomTokens(nodes: number, tokensPerNode: number, random: Random): Tokens {
  const all: Array<[number, number]> = [];
  for (let node = 0; node < nodes; node++) for (let t = 0; t < tokensPerNode; t++) all.push([uint32(random), node]);
  all.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return { positions: Float64Array.from(all, ([p]) => p), owners: Int32Array.from(all, ([, o]) => o) };
}

/** The first token at or after `position`, wrapping to 0 past the last. */
function successor(positions: Float64Array, position: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid]! < position) lo = mid + 1;
    else hi = mid;
  }
  return lo === positions.length ? 0 : lo;
}

/** The first n distinct owners walking clockwise from token index `from`: one list per token. */
function tokenPreferenceLists(tokens: Tokens, nodes: number, n: number): number[][] {
  if (n > nodes) throw new RangeError(`N = ${n} replicas need at least ${n} nodes, got ${nodes}`);
  const count = tokens.positions.length;
  const lists: number[][] = [];
  for (let i = 0; i < count; i++) {
    const list: number[] = [];
    for (let step = 0; step < count && list.length < n; step++) {
      const owner = tokens.owners[(i + step) % count]!;
      if (!list.includes(owner)) list.push(owner);
    }
    if (list.length < n) throw new Error(`only ${list.length} distinct nodes hold tokens, N = ${n}`);
    lists.push(list);
  }
  return lists;
}

/** Strategy 1: the range (previous token, token] belongs to the N distinct nodes from that token on. */
export function strategy1(tokens: Tokens, nodes: number, n: number): Placement {
  const lists = tokenPreferenceLists(tokens, nodes, n);
  const { positions } = tokens;
  return {
    nodes,
    replicas: n,
    replicasAt: (position) => lists[successor(positions, position)]!,
    *ranges() {
      // A token at p owns (prev, p], that is [prev + 1, p + 1) on integer positions; the first
      // token also owns the wrap past the last one.
      let start = 0;
      for (let i = 0; i < positions.length; i++) {
        const end = positions[i]! + 1;
        if (end > start) yield { start, end, replicas: lists[i]! };
        start = end;
      }
      if (start < RING_SIZE) yield { start, end: RING_SIZE, replicas: lists[0]! };
    },
  };
}

/** Equal partitions, partition p covering [p * 2^32 / Q, (p + 1) * 2^32 / Q), with their replicas. */
function partitioned(nodes: number, n: number, lists: readonly (readonly number[])[]): Placement {
  const q = lists.length;
  const width = RING_SIZE / q;
  return {
    nodes,
    replicas: n,
    replicasAt: (position) => lists[Math.floor(position / width)]!,
    *ranges() {
      for (let p = 0; p < q; p++) yield { start: p * width, end: (p + 1) * width, replicas: lists[p]! };
    },
  };
}

/** Strategy 2: Q equal partitions, each placed from the first token at or after its end. */
export function strategy2(tokens: Tokens, nodes: number, n: number, q: number): Placement {
  if (!Number.isInteger(q) || q < 1) throw new RangeError(`Q must be a positive integer, got ${q}`);
  const lists = tokenPreferenceLists(tokens, nodes, n);
  const width = RING_SIZE / q;
  const byPartition = Array.from({ length: q }, (_, p) => lists[successor(tokens.positions, ((p + 1) * width) % RING_SIZE)]!);
  return partitioned(nodes, n, byPartition);
}

export function nodeName(index: number): string {
  return `node-${String(index).padStart(2, '0')}`;
}

/** Strategy 3: dkv's ring of `nodes` members joined in order, Q partitions, replicas from Ring. */
export function strategy3(nodes: number, n: number, q: number): Placement {
  const names = Array.from({ length: nodes }, (_, i) => nodeName(i));
  const ring = new Ring(initialAssignment(names, q));
  const index = new Map(names.map((name, i) => [name, i]));
  const lists = Array.from({ length: q }, (_, p) => ring.replicas(p, n).map((name) => index.get(name)!));
  if (lists.some((list) => list.length < n)) throw new Error(`strategy 3: Q = ${q} leaves fewer than N = ${n} owners`);
  // The experiment maps a position to a partition itself (the hash is computed once per request for
  // all strategies); check on a few keys that this is the partition dkv's ring gives.
  for (const key of ['a', 'b', 'key-1', 'key-ffffffff']) {
    if (Math.floor(positionOf(key) / (RING_SIZE / q)) !== ring.partitionOf(key)) {
      throw new Error(`strategy 3: position-to-partition disagrees with src/ring.ts for ${key} at Q = ${q}`);
    }
  }
  return partitioned(nodes, n, lists);
}

/** Requests per node: 1/N of each request at each of its N replicas, so the loads sum to the count. */
export function requestLoads(placement: Placement, positions: Uint32Array): Float64Array {
  const hits = new Float64Array(placement.nodes);
  for (let i = 0; i < positions.length; i++) {
    for (const node of placement.replicasAt(positions[i]!)) hits[node]! += 1;
  }
  return hits.map((h) => h / placement.replicas);
}

/** The share of all requests each node gets in the limit of many uniform keys; sums to 1. */
export function expectedShares(placement: Placement): Float64Array {
  const shares = new Float64Array(placement.nodes);
  for (const { start, end, replicas } of placement.ranges()) {
    for (const node of replicas) shares[node]! += (end - start) / RING_SIZE / placement.replicas;
  }
  return shares;
}

/** Mean load over the hottest node's load, in (0, 1]; 1 is perfect balance. */
export function efficiency(loads: ArrayLike<number>): number {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < loads.length; i++) {
    sum += loads[i]!;
    max = Math.max(max, loads[i]!);
  }
  return max > 0 ? sum / loads.length / max : 0;
}

export interface Fig8Params {
  readonly [name: string]: number | readonly number[];
  /** S */
  readonly nodes: number;
  /** N */
  readonly replicas: number;
  /** Uniform key requests per trial, shared by every strategy and point of the trial. */
  readonly requests: number;
  /** Token placements (strategies 1 and 2) and request streams, averaged. */
  readonly trials: number;
  /** T for strategies 1 and 2. */
  readonly tokensPerNode: readonly number[];
  /** Strategy 2's fixed number of equal partitions. */
  readonly strategy2Q: number;
  /** Q for strategy 3, powers of two that src/ring.ts accepts. */
  readonly strategy3Q: readonly number[];
}

export const STRATEGY = ['strategy 1', 'strategy 2', 'strategy 3'] as const;

interface Accumulated {
  readonly x: number;
  readonly perNode: number;
  readonly measured: number[];
  readonly expected: number[];
}

function summarise(name: string, acc: readonly Accumulated[], perNodeLabel: string): Series {
  const mean = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const round = (v: number) => Math.round(v * 10_000) / 10_000;
  const points: Point[] = acc.map((a) => ({
    x: a.x,
    y: round(mean(a.measured)),
    yMin: round(Math.min(...a.measured)),
    yMax: round(Math.max(...a.measured)),
    expected: round(mean(a.expected)),
    [perNodeLabel]: a.perNode,
  }));
  return { name, points };
}

export function runFig8(params: Fig8Params, seed: number, progress: ProgressFn = () => {}): Result {
  const { nodes, replicas: n, requests, trials, tokensPerNode, strategy2Q, strategy3Q } = params;
  for (const q of strategy3Q) {
    if (q > Q_MAX || q < nodes) throw new RangeError(`strategy 3 Q = ${q}: must be in [S = ${nodes}, ${Q_MAX}]`);
  }
  const total = strategy3Q.length + trials * (1 + 2 * tokensPerNode.length + strategy3Q.length);
  let done = 0;
  const step = () => progress(++done, total);
  progress(0, total);

  // Strategy 3's placement has no randomness: built once.
  const rings = strategy3Q.map((q) => {
    const placement = strategy3(nodes, n, q);
    step();
    return placement;
  });
  const acc1 = tokensPerNode.map((t) => ({ x: nodes * t, perNode: t, measured: [] as number[], expected: [] as number[] }));
  const acc2 = tokensPerNode.map((t) => ({ x: nodes * t, perNode: t, measured: [] as number[], expected: [] as number[] }));
  const acc3 = strategy3Q.map((q) => ({ x: q, perNode: q / nodes, measured: [] as number[], expected: [] as number[] }));
  const record = (into: Accumulated, placement: Placement, positions: Uint32Array) => {
    into.measured.push(efficiency(requestLoads(placement, positions)));
    into.expected.push(efficiency(expectedShares(placement)));
    step();
  };

  for (let trial = 0; trial < trials; trial++) {
    const positions = requestPositions(requests, stream(seed, `requests/${trial}`));
    step();
    tokensPerNode.forEach((t, i) => {
      const tokens = randomTokens(nodes, t, stream(seed, `tokens/${trial}/${t}`));
      record(acc1[i]!, strategy1(tokens, nodes, n), positions);
      record(acc2[i]!, strategy2(tokens, nodes, n, strategy2Q), positions);
    });
    rings.forEach((placement, i) => record(acc3[i]!, placement, positions));
  }

  const series = [summarise(STRATEGY[0], acc1, 'tokensPerNode'), summarise(STRATEGY[1], acc2, 'tokensPerNode'), summarise(STRATEGY[2], acc3, 'partitionsPerNode')];
  const at = (s: Series, which: 'first' | 'last' | 'peak') => {
    const p = which === 'first' ? s.points[0]! : which === 'last' ? s.points[s.points.length - 1]! : s.points.reduce((a, b) => (b.y > a.y ? b : a));
    return `${p.y.toFixed(3)} at ${p.x}`;
  };
  const summary = series.map((s) => `${s.name}: ${at(s, 'first')} (smallest), ${at(s, 'peak')} (peak), ${at(s, 'last')} (largest metadata)`);
  return { series, summary };
}

export const fig8: Experiment<Fig8Params> = {
  name: 'fig8',
  title: 'Fig. 8: load-balancing efficiency against membership metadata, strategies 1-3, S = 30, N = 3',
  defaultSeed: 8,
  params: {
    nodes: 30,
    replicas: 3,
    requests: 1_000_000,
    trials: 5,
    tokensPerNode: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    strategy2Q: 1024,
    strategy3Q: [64, 128, 256, 512, 1024, 2048, 4096],
  },
  quickParams: {
    nodes: 30,
    replicas: 3,
    requests: 30_000,
    trials: 1,
    tokensPerNode: [1, 2, 8],
    strategy2Q: 1024,
    strategy3Q: [64, 256],
  },
  run: runFig8,
  figure: (_result, params) => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: `Load-balancing efficiency, S = ${params.nodes}, N = ${params.replicas} (Dynamo Fig. 8)`, fontSize: 13 },
    width: 520,
    height: 300,
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'Membership metadata at each node (tokens: S·T, or Q)', scale: { type: 'log', base: 2 } },
      y: { field: 'y', type: 'quantitative', title: 'Efficiency (mean load / max load)', scale: { domain: [0, 1] } },
      color: { field: 'series', type: 'nominal', title: null, sort: [...STRATEGY] },
      shape: { field: 'series', type: 'nominal', title: null, sort: [...STRATEGY] },
    },
  }),
};
