/**
 * §6.3 of the Dynamo paper, divergent versions: the share of reads that see 1, 2, 3 or 4 versions
 * of a key, under a shopping-cart workload. The paper measured 24 hours of Amazon's shopping cart:
 * 99.94% of requests saw exactly one version, 0.00057% two, 0.00047% three, 0.00009% four.
 *
 * Here a real dkv cluster (nats-server and node processes, started by test/harness/cluster.ts as
 * bench/rebuild.ts does) is driven by `clients` concurrent shoppers. Each does `sessions /
 * clients` read-modify-write sessions: get a cart, wait a moment (the shopper's think time), add an
 * item to the set held as a JSON array (siblings merged by union first), put it back with the
 * get's context. Carts are picked with a skew: a share `hotShare` of sessions goes to a few hot
 * carts (`hotCarts`), the rest uniformly to all `carts`, so that some sessions on the same cart
 * overlap. During the run, `kills` times a node is SIGKILLed and restarted on its data after
 * `downMs`; the kills are spread over the run by session count.
 *
 * Every successful get is counted by its number of values (versions). A get of a cart never
 * written (not found, 0 versions) is its own count, kept out of the shares: the paper counts
 * requests that returned data. The choices (carts, items, think times, which node dies when,
 * for how long) come from the seed; what overlaps with what depends on timing, so two runs with
 * the same seed give close but not identical shares.
 */
import { TestCluster } from '../../test/harness/cluster.ts';
import { stream } from './fig8.ts';
import { intBelow, type Random } from '../random.ts';
import type { Experiment, Point, ProgressFn, Result, Series } from './experiment.ts';

export interface VersionsParams {
  readonly [name: string]: number;
  readonly nodes: number;
  readonly carts: number;
  /** How many of the carts are hot; they are carts 0 .. hotCarts - 1. */
  readonly hotCarts: number;
  /** The share of sessions that go to a hot cart. */
  readonly hotShare: number;
  /** Concurrent shoppers, each a loop of sessions on one shared client. */
  readonly clients: number;
  /** Sessions in all, split evenly among the clients. */
  readonly sessions: number;
  /** Between a session's get and its put, uniform in [0, thinkMs). */
  readonly thinkMs: number;
  /** Node failures: SIGKILL, then a restart on the same data after downMs to 2 * downMs. */
  readonly kills: number;
  readonly downMs: number;
}

/** The paper's shares (§6.3), as fractions of requests. */
export const PAPER_SHARES: readonly number[] = [0.9994, 0.0000057, 0.0000047, 0.0000009];
export const BUCKETS = ['1 version', '2 versions', '3 versions', '4+ versions'] as const;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The cart's items: the union of the siblings' JSON arrays (a sibling that does not parse adds nothing). */
export function mergeCart(values: readonly string[]): string[] {
  const items = new Set<string>();
  for (const v of values) {
    try {
      const parsed: unknown = JSON.parse(v);
      if (Array.isArray(parsed)) for (const item of parsed) items.add(String(item));
    } catch {
      // not a cart: ignored
    }
  }
  return [...items].sort();
}

/** Which cart a session goes to: a hot one with probability hotShare, else any of them. */
export function pickCart(random: Random, p: VersionsParams): number {
  return random() < p.hotShare ? intBelow(random, p.hotCarts) : intBelow(random, p.carts);
}

/**
 * Read counts by number of versions (index n for n versions, index 4 for 4 and more; index 0 is
 * not read, the not-found gets are `notFound`) to the series and summary.
 */
export function summarise(
  counts: readonly number[],
  notFound: number,
  failed: { gets: number; puts: number },
  kills: number,
  divergent?: { readonly hot: number; readonly nodeDown: number },
): Result {
  const read = counts.slice(1, 5).reduce((a, b) => a + b, 0);
  const share = (c: number) => (read > 0 ? c / read : 0);
  const series: Series[] = BUCKETS.map((name, i) => {
    const point: Point = { x: i + 1, y: share(counts[i + 1]!), reads: counts[i + 1]!, paper: PAPER_SHARES[i]! };
    return { name, points: [point] };
  });
  const pct = (v: number) => `${(v * 100).toPrecision(4)}%`;
  const summary = [
    ...BUCKETS.map((name, i) => `${name}: ${pct(share(counts[i + 1]!))} of ${read} reads (${counts[i + 1]}); paper ${pct(PAPER_SHARES[i]!)}`),
    `not found (a new cart, left out of the shares): ${notFound}; failed gets ${failed.gets}, failed puts ${failed.puts}; ${kills} node kills`,
    ...(divergent
      ? [`reads with 2+ versions: ${read - counts[1]!}, of them ${divergent.hot} on a hot cart and ${divergent.nodeDown} while a node was down or restarting`]
      : []),
  ];
  return { series, summary };
}

export async function runVersions(p: VersionsParams, seed: number, progress: ProgressFn = () => {}): Promise<Result> {
  const total = p.sessions;
  let done = 0;
  progress(0, total);
  const counts = [0, 0, 0, 0, 0];
  let notFound = 0;
  const failed = { gets: 0, puts: 0 };
  const divergent = { hot: 0, nodeDown: 0 };
  let nodeDown = false;
  const cluster = await TestCluster.start({ nodes: p.nodes });
  try {
    const client = cluster.client;
    const shopper = async (c: number, sessions: number) => {
      const random = stream(seed, `client/${c}`);
      for (let s = 0; s < sessions; s++) {
        const picked = pickCart(random, p);
        const cart = `cart-${picked}`;
        const item = `item-${c}-${s}`;
        const think = random() * p.thinkMs;
        try {
          const downAtStart = nodeDown;
          const got = await client.get(cart);
          if (!got.found || got.values.length === 0) notFound++;
          else counts[Math.min(4, got.values.length)]!++;
          if (got.values.length > 1) {
            if (picked < p.hotCarts) divergent.hot++;
            if (downAtStart || nodeDown) divergent.nodeDown++;
          }
          await sleep(think);
          try {
            await client.put(cart, JSON.stringify([...mergeCart(got.values), item].sort()), { context: got.context });
          } catch {
            failed.puts++;
          }
        } catch {
          failed.gets++;
        }
        progress(++done, total);
      }
    };
    const failures = async () => {
      const random = stream(seed, 'failures');
      for (let k = 0; k < p.kills; k++) {
        // The k-th kill lands at a seeded point within the k-th of `kills` equal slices of the run.
        const at = Math.floor(((k + 0.2 + 0.6 * random()) / p.kills) * total);
        const node = cluster.nodes[intBelow(random, cluster.nodes.length)]!;
        const down = p.downMs * (1 + random());
        while (done < at) await sleep(20);
        if (done >= total) return;
        nodeDown = true;
        await node.kill('SIGKILL');
        await sleep(down);
        await node.start();
        nodeDown = false;
      }
    };
    const per = Math.floor(total / p.clients);
    await Promise.all([failures(), ...Array.from({ length: p.clients }, (_, c) => shopper(c, c < total - per * p.clients ? per + 1 : per))]);
    for (const node of cluster.nodes) if (!node.running) await node.start();
  } finally {
    await cluster.stop();
  }
  return summarise(counts, notFound, failed, p.kills, divergent);
}

export const versions: Experiment<VersionsParams> = {
  name: 'versions',
  title: '§6.3: divergent versions, the share of reads that see 1, 2, 3, 4+ versions of a shopping cart',
  defaultSeed: 63,
  params: { nodes: 4, carts: 2000, hotCarts: 20, hotShare: 0.1, clients: 8, sessions: 20_000, thinkMs: 20, kills: 4, downMs: 3000 },
  quickParams: { nodes: 3, carts: 50, hotCarts: 5, hotShare: 0.1, clients: 4, sessions: 400, thinkMs: 10, kills: 1, downMs: 500 },
  run: runVersions,
  figure: (_result, params) => ({
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: {
      text: 'Divergent versions: share of reads seeing n versions (Dynamo §6.3)',
      subtitle: `${params.nodes} nodes, ${params.carts} carts, ${params.clients} shoppers, ${params.sessions} sessions, ${params.kills} node kills; tick = paper`,
      fontSize: 13,
    },
    width: 420,
    height: 280,
    layer: [
      {
        transform: [{ filter: 'datum.y > 0' }],
        mark: { type: 'bar', color: '#4c78a8' },
        encoding: {
          x: { field: 'series', type: 'nominal', title: 'Versions seen by a read', sort: [...BUCKETS], axis: { labelAngle: 0 } },
          y: { field: 'y', type: 'quantitative', title: 'Share of reads (log)', scale: { type: 'log', domain: [1e-7, 1] } },
        },
      },
      {
        mark: { type: 'tick', color: '#e45756', thickness: 2, size: 40 },
        encoding: {
          x: { field: 'series', type: 'nominal', sort: [...BUCKETS] },
          y: { field: 'paper', type: 'quantitative' },
        },
      },
      {
        mark: { type: 'text', dy: -8 },
        encoding: {
          x: { field: 'series', type: 'nominal', sort: [...BUCKETS] },
          y: { field: 'label_y', type: 'quantitative' },
          text: { field: 'label', type: 'nominal' },
        },
        transform: [
          { calculate: "format(datum.y * 100, '.3~g') + '% (' + datum.reads + ')'", as: 'label' },
          { calculate: 'max(datum.y, 1e-7)', as: 'label_y' },
        ],
      },
    ],
  }),
};
