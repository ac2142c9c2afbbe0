/**
 * The bounds on a stored version set's clock, and the context a reply may carry. Pure.
 *
 * A key's clock holds one entry per actor that coordinated a write of it. Owners coordinate as
 * their node's store identity (`<node>.<suffix>`, actors/node.ts); a stand-in (a node that is not
 * an owner, writing for unreachable ones) as its hint store's current epoch
 * (`<node>~<suffix>/<epoch>`, see `standInActorId`), which changes only when that node starts or
 * retires its stand-in records, never per write. So entries grow with the nodes that coordinated
 * the key and with the stand-in epochs that wrote it, not with the number of writes.
 *
 * The rule that bounds the rest (after Riak's small/big/young/old_vclock, applied only where it
 * cannot lose a write): an entry that still holds values is never dropped (its values would lose
 * their dot); value-less stand-in entries beyond `STAND_IN_ENTRIES_IDLE_MAX` are dropped, those
 * whose last event is oldest first. Dropping a value-less entry can only make an old value that
 * a lagging replica still holds come back as a sibling (Dynamo §4.4's cost), never discard a
 * value, and a stand-in epoch never issues a dot again once its records are gone, so no dot is
 * ever reused. The rule reads nothing but the clock (no `now`), so every replica applies it
 * alike and replicas still converge to one version set.
 */
import type { Clock } from './dvvset.ts';
import { CONTEXT_ENTRIES_MAX, isContextId } from './context.ts';
import type { VersionVector } from './versionVector.ts';

/** Value-less stand-in entries a clock keeps (the newest); the allowance above the coordinating nodes. */
export const STAND_IN_ENTRIES_IDLE_MAX = 4;

/** The one character that marks a stand-in actor id (node names and store identities never hold it). */
const STAND_IN_MARK = '/';

export function isStandInId(id: string): boolean {
  return id.includes(STAND_IN_MARK);
}

/** A stand-in epoch's actor id: at most 48 + 1 + 6 + 1 + 7 = 63 characters for epochs below 36^7. */
export function standInActorId(hintIdentity: string, epoch: number): string {
  if (!Number.isSafeInteger(epoch) || epoch < 1) throw new RangeError(`stand-in epoch must be a positive integer, got ${epoch}`);
  return `${hintIdentity}${STAND_IN_MARK}${epoch.toString(36)}`;
}

/**
 * The clock with value-less stand-in entries beyond the allowance dropped (the rule above).
 * Returns `clock` itself when nothing is dropped, so the common case allocates nothing.
 */
export function boundClock<V>(clock: Clock<V>): Clock<V> {
  let idle = 0;
  for (const e of clock.e) if (e[2].length === 0 && isStandInId(e[0])) idle++;
  if (idle <= STAND_IN_ENTRIES_IDLE_MAX) return clock;
  const drop = new Set(
    clock.e
      .filter((e) => e[2].length === 0 && isStandInId(e[0]))
      .sort(byAgeThenId)
      .slice(0, idle - STAND_IN_ENTRIES_IDLE_MAX)
      .map((e) => e[0]),
  );
  return { e: clock.e.filter((e) => !drop.has(e[0])), a: clock.a };
}

function byAgeThenId(x: readonly [string, number, unknown, number], y: readonly [string, number, unknown, number]): number {
  return x[3] - y[3] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0);
}

/**
 * The version vector a reply hands to the client for `clock`: its join, always encodable
 * (src/context.ts bounds), whatever the clock holds. Total: it never throws.
 *
 * Within the bounds it is the whole join. Beyond them it leaves entries out, value-less ones
 * first (oldest first), then entries with values: a context that names less than the clock only
 * makes a write with it keep, as siblings, the versions it does not name; it never makes a write
 * discard a version its client did not read. Entries whose id cannot travel in a context are
 * left out the same way.
 */
export function contextOf<V>(clock: Clock<V>): VersionVector {
  const fits = clock.e.length <= CONTEXT_ENTRIES_MAX && clock.e.every((e) => isContextId(e[0]));
  if (fits) return clock.e.map(([id, n]) => [id, n] as const);
  const usable = clock.e.filter((e) => isContextId(e[0]));
  const excess = usable.length - CONTEXT_ENTRIES_MAX;
  let kept = usable;
  if (excess > 0) {
    const order = [...usable].sort((x, y) => (x[2].length === 0 ? 0 : 1) - (y[2].length === 0 ? 0 : 1) || byAgeThenId(x, y));
    const drop = new Set(order.slice(0, excess).map((e) => e[0]));
    kept = usable.filter((e) => !drop.has(e[0]));
  }
  return kept.map(([id, n]) => [id, n] as const);
}
