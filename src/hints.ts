/**
 * Where a hinted copy lives in the hint store: in the key's partition, under the intended owner
 * and the key. The owner comes first so one owner's hints for a partition sort together; node
 * IDs never contain NUL, so the first NUL separates owner from key (keys may contain anything).
 */
export function hintKey(owner: string, key: string): string {
  return `${owner}\u0000${key}`;
}

/**
 * Not a node name (those are A-Z a-z 0-9 _ -): the owner under which a stand-in keeps, per key it
 * coordinated in the current epoch, its own clock entry (actors/handoff.ts).
 */
const STAND_IN_RECORD_OWNER = '#';

export function standInRecordKey(key: string): string {
  return hintKey(STAND_IN_RECORD_OWNER, key);
}

export function isStandInRecord(stored: string): boolean {
  return stored.startsWith(`${STAND_IN_RECORD_OWNER}\u0000`);
}

/**
 * Keys a stand-in keeps a record for in one epoch; past it the epoch moves on and the records are
 * cleared (a key written again then gets one more clock entry, see src/clockBounds.ts).
 */
export const STAND_IN_RECORDS_MAX = 100_000;

export function parseHintKey(stored: string): { owner: string; key: string } {
  const i = stored.indexOf('\u0000');
  if (i <= 0) throw new RangeError(`not a hint key: ${JSON.stringify(stored.slice(0, 80))}`);
  return { owner: stored.slice(0, i), key: stored.slice(i + 1) };
}

/** Default bound of the hint backlog, in hinted copies: past it a stand-in refuses new hints. */
export const HINTS_MAX = 100_000;
/** Default bound of the hint backlog in estimated bytes (src/wire.ts clockBytes), beside the count. */
export const HINT_BYTES_MAX = 1024 * 1024 * 1024;
/** Hinted copies handed over per delivery round; one round runs at a time (Dynamo §6.5 pacing). */
export const HANDOFF_BATCH_MAX = 100;
export const HANDOFF_INTERVAL_MS = 100;
