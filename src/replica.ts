/**
 * What a replica does to its stored version set, as pure functions the vnode actor calls:
 * the coordinating replica's event (dvvset update) and every other replica's merge (dvvset sync).
 */
import { emptyClock, equal, newClock, prune, sync, update, values, MAX_CLOCK_ENTRIES, type Clock } from './dvvset.ts';
import { merge as mergeVersions, type VersionVector } from './versionVector.ts';
import { keyHash, sameHash, type Hash } from './merkle.ts';
import { boundClock, contextOf } from './clockBounds.ts';
import { CONTEXT_ENTRIES_MAX, encodeContext, isContextId } from './context.ts';

/**
 * Dynamo §4.4 truncates clocks; an entry is only dropped after it has been idle this long, and
 * the coordinator's own entry never, so a counter is not reissued while its dots may be alive.
 */
export const CLOCK_ENTRY_IDLE_MS_MIN = 24 * 60 * 60 * 1000;

/**
 * A version written with `ttl_ms`: its bytes and the time it expires (ms since the epoch, by the
 * coordinating node's clock). Once `x` has passed it reads as a tombstone: each sibling expires on
 * its own, and a version set of tombstones and expired versions is reaped like a delete's.
 */
export interface Expiring {
  readonly v: Uint8Array;
  readonly x: number;
}

/** A stored value: bytes, bytes that expire, or null for a tombstone (a delete is a versioned write). */
export type StoredValue = Uint8Array | Expiring | null;
export type StoredClock = Clock<StoredValue>;

export function isExpiring(v: unknown): v is Expiring {
  if (typeof v !== 'object' || v === null || v instanceof Uint8Array || Array.isArray(v)) return false;
  const o = v as { v?: unknown; x?: unknown };
  // Exactly the two fields: msgpack hands over whatever a peer (or anyone on the bus) sent.
  return Object.keys(o).length === 2 && o.v instanceof Uint8Array && typeof o.x === 'number' && Number.isSafeInteger(o.x) && o.x >= 0;
}

export function isStoredValue(v: unknown): v is StoredValue {
  return v === null || v instanceof Uint8Array || isExpiring(v);
}

/** The value's bytes (none for a tombstone), expired or not. */
export function bytesOf(v: StoredValue): Uint8Array | null {
  return v === null || v instanceof Uint8Array ? v : v.v;
}

/** A value that reads as present at `nowMs`: not a tombstone, and not expired. */
export function isLiveAt(v: StoredValue, nowMs: number): v is Uint8Array | Expiring {
  return v !== null && (v instanceof Uint8Array || v.x > nowMs);
}

/** The values a read answers at `nowMs`: tombstones and expired versions left out. */
export function liveValuesAt(clock: StoredClock, nowMs: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const v of values(clock)) if (isLiveAt(v, nowMs)) out.push(v instanceof Uint8Array ? v : v.v);
  return out;
}

/** The stored value a write makes: expiring `ttlMs` after `nowMs` when it has a TTL. */
export function valueToStore(value: Uint8Array | null, ttlMs: number | undefined, nowMs: number): StoredValue {
  return value === null || ttlMs === undefined ? value : { v: value, x: nowMs + ttlMs };
}

/**
 * A client's context, cut down to what this replica's copy has seen of each actor: counters
 * above its own are lowered to it, actors it never saw are left out. A context is the client's
 * claim of what it read, and nothing checks it: unclamped, a forged one (a counter at the safe
 * maximum) would make the next event's counter unsafe, and one naming dots not yet issued would
 * make those versions look seen, and discarded, when they arrive. Clamped, the worst any context
 * does is what an old one does: leave versions it did not really see as siblings. An honest
 * context is cut only when this replica lags behind what the client read (a sibling then too).
 */
export function clampContext(context: VersionVector | undefined, current: StoredClock | undefined): VersionVector {
  if (context === undefined || context.length === 0 || current === undefined) return [];
  const out: Array<readonly [string, number]> = [];
  let i = 0;
  for (const [id, n] of context) {
    // Both sorted by id: one walk.
    while (i < current.e.length && current.e[i]![0] < id) i++;
    const local = current.e[i];
    if (local === undefined || local[0] !== id) continue;
    out.push(n <= local[1] ? [id, n] : [id, local[1]]);
  }
  return out;
}

export function coordinateWrite(
  current: StoredClock | undefined,
  context: VersionVector | undefined,
  value: StoredValue,
  actorId: string,
  nowMs: number,
): StoredClock {
  const next = update(newClock(clampContext(context, current), value), current ?? emptyClock<StoredValue>(), actorId, nowMs);
  return boundClock(prune(next, MAX_CLOCK_ENTRIES, { keepIds: [actorId], now: nowMs, ageMsMin: CLOCK_ENTRY_IDLE_MS_MIN }));
}

/**
 * The context a put reply carries: what the client had read, and the version it just wrote, so
 * that a put with it supersedes the client's own last write. When the write left a single
 * version, that is the whole written history. When it left siblings, the client's context plus
 * the new dot: a context is a version vector, so covering the new dot `(actor, n)` covers every
 * earlier dot of `actor` too, which is safe exactly when `actor`'s entry holds the new version
 * alone: each earlier dot of `actor` was then superseded here, by a write whose context had seen
 * it. Otherwise (another write through the same actor that the client has not read) the reply
 * covers only what the client had read, so reusing it can never discard a version nobody read
 * (it makes a sibling instead). `actor`: the id the write was versioned under.
 */
export function putReplyContext(written: StoredClock, clientContext: VersionVector | undefined, actor?: string): VersionVector {
  if (values(written).length === 1) return contextOf(written);
  const client = clientContext ?? [];
  if (actor === undefined || !isContextId(actor)) return client;
  const own = written.e.find((e) => e[0] === actor);
  if (own === undefined || own[2].length !== 1) return client;
  const withOwn = mergeVersions(client, [[actor, own[1]]]);
  return withOwn.length <= CONTEXT_ENTRIES_MAX ? withOwn : client;
}

/**
 * The context string of a read's answer: the join of what was read, always encodable
 * (src/clockBounds.ts), and the node to coordinate the next write, if one is named.
 */
export function readContext(clock: StoredClock | null | undefined, coordinator?: string): string {
  return encodeContext(clock ? contextOf(clock) : [], coordinator);
}

export function mergeReplica(current: StoredClock | undefined, incoming: StoredClock): StoredClock {
  return boundClock(current === undefined ? incoming : sync(current, incoming));
}

/** A version set whose every value is a delete or expired at `nowMs` (and that has one at all). */
export function isTombstoneAt(clock: StoredClock, nowMs: number): boolean {
  return clock.a.length === 0 && clock.e.length > 0 && clock.e.every((e) => e[2].every((v) => !isLiveAt(v, nowMs)));
}

/**
 * Since when a version set has held nothing live, in ms (its last event, or its last version's
 * expiry if later), or undefined while it holds a live value: the reaper's grace runs from here.
 */
export function deadSinceMs(clock: StoredClock, nowMs: number): number | undefined {
  if (!isTombstoneAt(clock, nowMs)) return undefined;
  let since = lastEventMs(clock);
  for (const v of values(clock)) if (v !== null && !(v instanceof Uint8Array) && v.x > since) since = v.x;
  return since;
}

/** When this replica last saw an event of the version set (its entries' timestamps), in ms. */
export function lastEventMs(clock: StoredClock): number {
  return Math.max(0, ...clock.e.map((e) => e[3]));
}

export function reconcile(clocks: readonly StoredClock[]): StoredClock {
  return boundClock(clocks.reduce<StoredClock>((acc, c) => sync(acc, c), emptyClock<StoredValue>()));
}

/**
 * Read repair's decision for one owner's answer (`copy` null: it had none): true when it lacks
 * versions of the reconciled set made before `settledBeforeMs`. An owner behind only on versions
 * made since is most likely still receiving the write that made them, and repairing it would only
 * write the same version twice.
 */
export function needsRepair(copy: StoredClock | null, merged: StoredClock, settledBeforeMs: number): boolean {
  if (copy !== null && equal(copy, merged)) return false;
  return !merged.e.every(([id, counter, , t]) => (copy?.e.find((e) => e[0] === id)?.[1] ?? 0) >= counter || t > settledBeforeMs);
}

/**
 * A read's digest of a replica's version set (none: `null`), for reads that ask "send it only if
 * it differs from mine". Equal digests mean equal dots (the same 64-bit hash the Merkle trees
 * use), and a dot names one value forever, so the asker may use its own copy. Undefined when the
 * set holds undotted values, whose identity the hash does not cover.
 */
export function readDigest(key: string, clock: StoredClock | null): Hash | undefined {
  if (clock !== null && clock.a.length > 0) return undefined;
  return keyHash(key, clock ?? undefined);
}

/** `b` comes off the wire: anything but a pair is not the same. */
export function sameDigest(a: Hash | undefined, b: unknown): boolean {
  return a !== undefined && Array.isArray(b) && b.length === 2 && sameHash(a, b as unknown as Hash);
}
