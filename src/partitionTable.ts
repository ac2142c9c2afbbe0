/**
 * What a node holds, partition by partition, while the ring changes under it (Dynamo §4.9,
 * Riak's handoff): the data of a partition it replicates is either complete here or still being
 * received; the data of a partition it no longer replicates is being given away and is deleted
 * only once every current replica says its copy is complete.
 *
 * Pure: the actors keep one table per node, persist it, and act on what `plan` returns.
 *
 * Why a pull by the receiver rather than a push by the old owner: the receiver knows which keys it
 * already has (a cursor in key order), so a transfer interrupted by a crash of either side resumes
 * from the cursor instead of starting over, and the giver needs no state beyond "still held".
 *
 * A node whose store is new (first start, or a lost disk) cannot tell the two apart by itself: it
 * rebuilds every partition it replicates by the same pull, marked `rebuild`. A source that is
 * itself rebuilding says so, and when every other replica that answers is
 * in that state (a brand-new cluster) there is nothing to pull: the copy is complete
 * (actors/transfer.ts). Anti-entropy remains the net for what no source held.
 */

/** `complete`: every key this replica should have is here. */
type HeldState = 'complete' | 'receiving' | 'giving';

interface Held {
  readonly partition: number;
  readonly state: HeldState;
  /** `receiving` only: nodes to pull from, the previous replicas (a leaving one first). */
  readonly sources: readonly string[];
  /** `receiving` only: the last key received in key order; null before the first page. */
  readonly cursor: string | null;
  /** Keys received (receiving) so far; for progress in status. */
  readonly moved: number;
  /** `receiving` only: pulled because this node's store is new, not because the ring moved. */
  readonly rebuild?: true;
}

/** Invariant: sorted by partition, one entry per partition. */
type PartitionTable = readonly Held[];

type PlanMode = 'follow' | 'rebuild' | 'trust';

interface RingPlan {
  readonly table: PartitionTable;
  /** Partitions this node replicates now but holds no data of yet. */
  readonly receive: readonly number[];
  /** Partitions this node holds but no longer replicates. */
  readonly give: readonly number[];
}

/**
 * The table after the ring changed to one where this node replicates `replicas` (ring.ts
 * `replicaPartitions`). `previousReplicas(p)` gives the nodes that replicated `p` before the
 * change (from the last ring this node knew) and `walk(p)` every ring node in preference order,
 * both without this node: sources are the former replicas first, so that a partition is pulled
 * from a node that had it, then the rest of the ring as a fallback.
 *
 * `mode`:
 * - `follow`: the store is the one the table describes; partitions move as the ring moved.
 * - `rebuild`: this node's store was just created (a first start or a lost disk), so whatever the
 *   table says it held is gone: every partition it replicates is rebuilt from the other
 *   replicas, and a copy it was giving away has nothing left to give. With no one to pull from
 *   (N=1) a partition is complete at once.
 * - `trust`: a new store whose operator turned rebuilding off (`dkv node --no-rebuild`): the
 *   partitions it replicates count as complete, and read repair and anti-entropy refill them.
 */
function plan(
  table: PartitionTable,
  replicas: readonly number[],
  previousReplicas: (p: number) => readonly string[],
  walk: (p: number) => readonly string[],
  mode: PlanMode,
): RingPlan {
  const wanted = new Set(replicas);
  const byPartition = new Map(table.map((h) => [h.partition, h]));
  const receive: number[] = [];
  const give: number[] = [];
  const next: Held[] = [];
  for (const p of [...new Set([...byPartition.keys(), ...wanted])].sort((a, b) => a - b)) {
    const held = byPartition.get(p);
    if (mode === 'rebuild') {
      if (!wanted.has(p)) continue;
      const sources = uniq([...previousReplicas(p), ...walk(p)]);
      next.push(sources.length === 0 ? completeEntry(p) : { partition: p, state: 'receiving', sources, cursor: null, moved: 0, rebuild: true });
      if (sources.length > 0) receive.push(p);
      continue;
    }
    if (wanted.has(p)) {
      if (held === undefined) {
        if (mode === 'trust') {
          next.push(completeEntry(p));
          continue;
        }
        const sources = uniq([...previousReplicas(p), ...walk(p)]);
        next.push(sources.length === 0 ? completeEntry(p) : { partition: p, state: 'receiving', sources, cursor: null, moved: 0 });
        if (sources.length > 0) receive.push(p);
      } else if (held.state === 'giving') {
        // Taken back before it was handed over: a giver keeps applying writes, so its copy is
        // as complete as it was.
        next.push(completeEntry(p));
      } else {
        next.push(held);
        if (held.state === 'receiving') receive.push(p);
      }
    } else if (held !== undefined) {
      next.push({ partition: p, state: 'giving', sources: [], cursor: null, moved: 0 });
      give.push(p);
    }
  }
  return { table: next, receive, give };
}

function completeEntry(partition: number): Held {
  return { partition, state: 'complete', sources: [], cursor: null, moved: 0 };
}

function uniq(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

function entryOf(table: PartitionTable, partition: number): Held | undefined {
  return table.find((h) => h.partition === partition);
}

/** The table with `partition`'s entry replaced by `entry`, or removed when `entry` is undefined. */
function withEntry(table: PartitionTable, partition: number, entry: Held | undefined): PartitionTable {
  const others = table.filter((h) => h.partition !== partition);
  if (entry === undefined) return others;
  return [...others, entry].sort((a, b) => a.partition - b.partition);
}

/** A page of keys arrived and is durable: the cursor moves past it. */
function received(table: PartitionTable, partition: number, lastKey: string, count: number): PartitionTable {
  const h = entryOf(table, partition);
  if (h === undefined || h.state !== 'receiving') return table;
  return withEntry(table, partition, { ...h, cursor: lastKey, moved: h.moved + count });
}

/** The source said there is nothing after the cursor: the copy here is complete. */
function completed(table: PartitionTable, partition: number): PartitionTable {
  const h = entryOf(table, partition);
  if (h === undefined || h.state !== 'receiving') return table;
  return withEntry(table, partition, { partition, state: 'complete', sources: [], cursor: null, moved: h.moved });
}

/** The giver's copy is deleted: the partition leaves the table. */
function dropped(table: PartitionTable, partition: number): PartitionTable {
  const h = entryOf(table, partition);
  if (h === undefined || h.state !== 'giving') return table;
  return withEntry(table, partition, undefined);
}

/** Whether `x` (a decoded file) is a table: shape and invariants. */
function isPartitionTable(x: unknown, q: number): x is PartitionTable {
  if (!Array.isArray(x)) return false;
  let last = -1;
  for (const h of x as unknown[]) {
    if (typeof h !== 'object' || h === null) return false;
    const e = h as Record<string, unknown>;
    if (!Number.isInteger(e.partition) || (e.partition as number) <= last || (e.partition as number) >= q) return false;
    if (e.state !== 'complete' && e.state !== 'receiving' && e.state !== 'giving') return false;
    if (!Array.isArray(e.sources) || !e.sources.every((s) => typeof s === 'string')) return false;
    if (e.cursor !== null && typeof e.cursor !== 'string') return false;
    if (!Number.isSafeInteger(e.moved) || (e.moved as number) < 0) return false;
    if (e.rebuild !== undefined && (e.rebuild !== true || e.state !== 'receiving')) return false;
    last = e.partition as number;
  }
  return true;
}

export type { HeldState, Held, PartitionTable, PlanMode, RingPlan };
export { plan, entryOf, received, completed, dropped, isPartitionTable };
