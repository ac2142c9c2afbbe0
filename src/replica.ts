/**
 * What a replica does to its stored version set, as pure functions the vnode actor calls:
 * the coordinating replica's event (dvvset update) and every other replica's merge (dvvset sync).
 */
import { emptyClock, newClock, prune, sync, update, MAX_CLOCK_ENTRIES, type Clock } from './dvvset.ts';
import type { VersionVector } from './versionVector.ts';

/** A stored value: bytes, or null for a tombstone (a delete is a versioned write). */
export type StoredValue = Uint8Array | null;
export type StoredClock = Clock<StoredValue>;

export function coordinateWrite(
  current: StoredClock | undefined,
  context: VersionVector | undefined,
  value: StoredValue,
  actorId: string,
  nowMs: number,
): StoredClock {
  const next = update(newClock(context ?? [], value), current ?? emptyClock<StoredValue>(), actorId, nowMs);
  return prune(next, MAX_CLOCK_ENTRIES);
}

export function mergeReplica(current: StoredClock | undefined, incoming: StoredClock): StoredClock {
  return current === undefined ? incoming : sync(current, incoming);
}

export function reconcile(clocks: readonly StoredClock[]): StoredClock {
  return clocks.reduce<StoredClock>((acc, c) => sync(acc, c), emptyClock<StoredValue>());
}
