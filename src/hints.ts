/**
 * Where a hinted copy lives in the hint store: in the key's partition, under the intended owner
 * and the key. The owner comes first so one owner's hints for a partition sort together; node
 * IDs never contain NUL, so the first NUL separates owner from key (keys may contain anything).
 */
export function hintKey(owner: string, key: string): string {
  return `${owner}\u0000${key}`;
}

export function parseHintKey(stored: string): { owner: string; key: string } {
  const i = stored.indexOf('\u0000');
  if (i <= 0) throw new RangeError(`not a hint key: ${JSON.stringify(stored.slice(0, 80))}`);
  return { owner: stored.slice(0, i), key: stored.slice(i + 1) };
}

/** Default bound of the hint backlog, in hinted copies: past it a stand-in refuses new hints. */
export const HINTS_MAX = 100_000;
/** Hinted copies handed over per delivery round; one round runs at a time (Dynamo §6.5 pacing). */
export const HANDOFF_BATCH_MAX = 100;
export const HANDOFF_INTERVAL_MS = 100;
