/**
 * Dotted version vector sets (DVVSet): the version set dkv stores for each key.
 *
 * After Almeida, Baquero, Gonçalves, Preguiça, Fonte, "Scalable and Accurate Causality Tracking
 * for Eventually Consistent Stores" (DAIS 2014) and its reference implementation `dvvset.erl`
 * (ricardobcl/Dotted-Version-Vectors, used by Riak 2.x), with one addition: each entry carries
 * the time of its last event, used only by `prune` (Dynamo §4.4 clock truncation).
 *
 * Why not plain vector clocks keyed by coordinator: every value written through one coordinator
 * gets a clock from the same counter, so the server cannot tell a write that raced with another
 * client's (concurrent: keep both) from one that followed it; to stay safe it must keep every
 * such write as a sibling, and siblings pile up without bound under concurrent read-modify-write
 * clients. A DVVSet gives each value its own dot (id, counter) apart from the causal context, so a
 * write removes exactly the values its context has seen and nothing else: the number of siblings
 * stays bounded by the number of truly concurrent writers.
 *
 * Values are opaque: nothing here compares them, it compares dots. (The one exception is the
 * de-duplication of anonymous values in `sync`, through a caller-chosen equality; clocks that
 * replicas store hold no anonymous values, see `Clock.a`.)
 *
 * Everything is pure; time comes in as `now` (ms). Functions never mutate their arguments, and
 * results may share structure with them: treat clocks as immutable.
 */
import type { VersionVector } from './versionVector.ts';

/** Entries of a clock beyond which `prune` starts dropping old, value-less entries (Riak's big_vclock). */
export const MAX_CLOCK_ENTRIES = 10;

/**
 * One actor's column of the clock.
 * Invariants: id non-empty; counter a positive safe integer (counter 0 entries are never built);
 * values.length <= counter; values[i] is the value of dot (id, counter - i), newest first, so the
 * values held are exactly the dots (counter - values.length, counter]; t >= 0 is the time (ms) of
 * the last event of this id that this clock has seen locally, 0 when only known from a client's
 * context.
 */
export type Entry<V> = [id: string, counter: number, values: V[], t: number];

/**
 * A set of concurrent values with their causal history. Plain arrays and numbers only, so that it
 * goes through msgpack (lmdb, the wire) and JSON as is.
 * Invariant: `e` sorted by id (JavaScript string order), ids unique.
 * `a` holds anonymous values: values with no dot, whose causal past is the whole clock. Only a
 * client's clock (`newClock`) has one; `update` turns it into a dot, so stored clocks have none.
 */
export type Clock<V> = { e: Entry<V>[]; a: V[] };

export function emptyClock<V>(): Clock<V> {
  return { e: [], a: [] };
}

/**
 * A client's write: the causal context it read (a `join` result) and the new value, not yet
 * dotted. Hand it to `update` on the coordinating replica.
 */
export function newClock<V>(context: VersionVector, value: V): Clock<V> {
  // Sorted defensively, like dvvset:new/2: a context that lost its order still means the same.
  const sorted = [...context].sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  return { e: sorted.map(([id, n]): Entry<V> => [id, n, [], 0]), a: [value] };
}

/**
 * Merges two replicas' clocks: the union of causal histories, keeping exactly the values whose
 * dot the other clock has not seen or also holds. Commutative and idempotent; associative on
 * clocks without anonymous values (all stored clocks). Anonymous values follow dvvset.erl: the
 * side whose history is strictly older loses its anonymous values, otherwise both are kept,
 * de-duplicated with `sameValue`.
 */
export function sync<V>(a: Clock<V>, b: Clock<V>, sameValue: (x: V, y: V) => boolean = Object.is): Clock<V> {
  let anonymous: V[];
  if (less(a, b)) anonymous = b.a;
  else if (less(b, a)) anonymous = a.a;
  else anonymous = unionValues(a.a, b.a, sameValue);
  return { e: syncEntries(a.e, b.e), a: anonymous };
}

function unionValues<V>(x: V[], y: V[], same: (p: V, q: V) => boolean): V[] {
  if (y.length === 0) return x;
  if (x.length === 0) return y;
  const out = [...x];
  for (const v of y) if (!out.some((w) => same(w, v))) out.push(v);
  return out;
}

function syncEntries<V>(x: Entry<V>[], y: Entry<V>[]): Entry<V>[] {
  const out: Entry<V>[] = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    const ex = x[i];
    const ey = y[j];
    if (ey === undefined || (ex !== undefined && ex[0] < ey[0])) {
      out.push(ex!);
      i++;
    } else if (ex === undefined || ey[0] < ex[0]) {
      out.push(ey);
      j++;
    } else {
      out.push(mergeEntry(ex, ey));
      i++;
      j++;
    }
  }
  return out;
}

/**
 * Same id on both sides. A dot d survives iff each side either holds it or has not seen it
 * (d > counter). Both sides hold a contiguous range of dots ending at their counter, so the
 * result is the higher counter's range cut at the other's first unheld dot (dvvset merge/5).
 */
function mergeEntry<V>(x: Entry<V>, y: Entry<V>): Entry<V> {
  const [hi, lo] = x[1] >= y[1] ? [x, y] : [y, x];
  const [id, n, vs] = hi;
  const t = Math.max(x[3], y[3]);
  const hiFloor = n - vs.length; // hi has seen every dot, holds those above its floor
  const loFloor = lo[1] - lo[2].length;
  const kept = hiFloor >= loFloor ? vs : vs.slice(0, n - loFloor);
  return [id, n, kept, t];
}

/**
 * The coordinator's event (dvvset update/3): `client` is a `newClock` result (context plus one
 * anonymous value), `server` the clock stored here. Syncs the client's context, without its value,
 * with the server's clock (dropping the values the client has seen), then gives the value the next
 * dot of `id`. The result descends both arguments.
 */
export function update<V>(client: Clock<V>, server: Clock<V>, id: string, now: number): Clock<V> {
  if (client.a.length !== 1) {
    throw new Error(`dvvset update: the client clock must hold exactly one anonymous value (a newClock result), it holds ${client.a.length}`);
  }
  if (id === '') throw new Error('dvvset update: the actor id must be non-empty');
  const synced = sync({ e: client.e, a: [] }, server);
  return { e: event(synced.e, id, client.a[0] as V, now), a: synced.a };
}

function event<V>(entries: Entry<V>[], id: string, value: V, now: number): Entry<V>[] {
  const out: Entry<V>[] = [];
  let done = false;
  for (const e of entries) {
    if (!done && e[0] === id) {
      // max: a clock stepping backwards must not make an active entry look old to prune.
      out.push([id, e[1] + 1, [value, ...e[2]], Math.max(e[3], now)]);
      done = true;
    } else {
      if (!done && e[0] > id) {
        out.push([id, 1, [value], now]);
        done = true;
      }
      out.push(e);
    }
  }
  if (!done) out.push([id, 1, [value], now]);
  return out;
}

/** The causal history as a version vector: the context to hand to clients. */
export function join<V>(clock: Clock<V>): VersionVector {
  return clock.e.map(([id, n]) => [id, n] as const);
}

/** The actor ids this clock has an entry for. */
export function ids<V>(clock: Clock<V>): string[] {
  return clock.e.map((e) => e[0]);
}

/** Every concurrent value (siblings): the entries' values in id order, then the anonymous ones. */
export function values<V>(clock: Clock<V>): V[] {
  const out: V[] = [];
  for (const e of clock.e) out.push(...e[2]);
  out.push(...clock.a);
  return out;
}

/** The values that are not tombstones (null marks a delete). */
export function liveValues<V>(clock: Clock<V | null>): V[] {
  return values(clock).filter((v): v is V => v !== null);
}

export function size<V>(clock: Clock<V>): number {
  let n = clock.a.length;
  for (const e of clock.e) n += e[2].length;
  return n;
}

/** Causal history of `a` strictly included in that of `b` (values are outdated by b). */
export function less<V>(a: Clock<V>, b: Clock<V>): boolean {
  return greater(b.e, a.e);
}

/** x's history strictly includes y's (dvvset greater/3). */
function greater<V>(x: Entry<V>[], y: Entry<V>[]): boolean {
  let strict = false;
  let i = 0;
  let j = 0;
  while (j < y.length) {
    const ex = x[i];
    const ey = y[j]!;
    if (ex === undefined || ex[0] > ey[0]) return false; // y has an id x lacks
    if (ex[0] < ey[0]) {
      strict = true; // x has an id y lacks
      i++;
      continue;
    }
    if (ex[1] < ey[1]) return false;
    if (ex[1] > ey[1]) strict = true;
    i++;
    j++;
  }
  return strict || i < x.length;
}

/** Same causal history and same number of values per entry (dvvset equal/2); values are not compared. */
export function equal<V>(a: Clock<V>, b: Clock<V>): boolean {
  if (a.e.length !== b.e.length) return false;
  for (let i = 0; i < a.e.length; i++) {
    const x = a.e[i]!;
    const y = b.e[i]!;
    if (x[0] !== y[0] || x[1] !== y[1] || x[2].length !== y[2].length) return false;
  }
  return true;
}

export interface PruneOptions {
  /** Ids whose entry is never dropped, e.g. this replica's own actor id (see `prune`). */
  readonly keepIds?: readonly string[];
  /** With `ageMsMin`: entries whose last event is younger than `ageMsMin` at `now` are kept (Riak's young_vclock). */
  readonly now?: number;
  readonly ageMsMin?: number;
}

/**
 * Dynamo §4.4 clock truncation: when the clock has more than `maxEntries` entries, drops the
 * entries whose last event is oldest (smallest `t`, ties by id) until it has `maxEntries`.
 *
 * An entry that still holds values is never dropped: its values would lose their dot and vanish
 * at the next sync, which is data loss. So the result can keep more than `maxEntries` entries, as
 * many as there are entries with values (plus the protected ones).
 *
 * What dropping costs: the clock forgets it has seen that actor's events. A replica that still
 * holds one of those older values makes it come back as a sibling at the next sync (a false
 * conflict the client resolves, never a lost write). Worse, if an actor's own entry is dropped from
 * the clock it coordinates writes on, its counter restarts and reuses dots that other replicas
 * already saw, so a new write could be taken as seen and discarded: pass the local actor id in
 * `keepIds`, and prefer pruning only entries that are long idle (`ageMsMin`).
 */
export function prune<V>(clock: Clock<V>, maxEntries: number = MAX_CLOCK_ENTRIES, options: PruneOptions = {}): Clock<V> {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 0) {
    throw new RangeError(`prune: maxEntries must be a non-negative integer, got ${maxEntries}`);
  }
  const excess = clock.e.length - maxEntries;
  if (excess <= 0) return clock;
  const { keepIds = [], now, ageMsMin } = options;
  const young = (t: number): boolean => now !== undefined && ageMsMin !== undefined && now - t < ageMsMin;
  const droppable = clock.e
    .filter((e) => e[2].length === 0 && !keepIds.includes(e[0]) && !young(e[3]))
    .sort((x, y) => x[3] - y[3] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  if (droppable.length === 0) return clock;
  const drop = new Set(droppable.slice(0, excess).map((e) => e[0]));
  return { e: clock.e.filter((e) => !drop.has(e[0])), a: clock.a };
}

/**
 * Is `x` a clock satisfying every invariant above, with every value accepted by `isValue`?
 * For clocks read back from storage or received from another node.
 */
export function isClock<V>(x: unknown, isValue: (v: unknown) => v is V): x is Clock<V> {
  if (typeof x !== 'object' || x === null) return false;
  const { e, a } = x as { e?: unknown; a?: unknown };
  if (!Array.isArray(e) || !Array.isArray(a) || !a.every(isValue)) return false;
  let prev: string | undefined;
  for (const entry of e as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 4) return false;
    const [id, n, vs, t] = entry as unknown[];
    if (typeof id !== 'string' || id === '' || (prev !== undefined && !(prev < id))) return false;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return false;
    if (!Array.isArray(vs) || vs.length > n || !vs.every(isValue)) return false;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) return false;
    prev = id;
  }
  return true;
}
