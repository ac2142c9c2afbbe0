/**
 * Key listing (`dkv.<cluster>.keys`), the pure part: which keys count as live, how pages from
 * several partitions and several nodes merge into one, and which node is asked for which
 * partitions (a covering set, as Riak's coverage plans pick one vnode per partition).
 *
 * A page is the unit everything here works on. Invariant of a page `{keys, next}` answered for
 * a request `(prefix, after)`: `keys` is, in key order, exactly the live keys with the prefix
 * in `(after, next]` of the partitions it covers (`(after, end)` when `next` is null). A scan cut
 * short by its budget therefore still answers a true page: its `next` is the last key it
 * scanned, and it may hold fewer keys than asked for, even none, while `next` is not null. Since
 * each partition scans at least one entry, `next > after` whenever it is not null: a client
 * that follows `next` always gets on.
 *
 * Keys are compared in Unicode code point order (compareCodePoints), the order both storage
 * engines list them in; JavaScript's `<` compares UTF-16 units and differs past U+FFFF.
 */
import { isLiveAt, type StoredClock } from './replica.ts';
import type { Ring } from './ring.ts';
import { compareCodePoints } from './storage/memory.ts';

export { compareCodePoints };

/** Largest `limit` a listing request may ask for (DESIGN.md §3). */
export const KEYS_LIMIT_MAX = 1000;
/** `limit` when the request names none. */
export const KEYS_LIMIT_DEFAULT = 1000;
/**
 * A page stops growing past this many bytes of JSON-encoded keys, whatever `limit` says: 1000
 * keys of 1024 bytes, escaped, would not fit NATS's default max_payload of 1 MiB.
 */
export const KEYS_PAGE_BYTES_MAX = 512 * 1024;

export interface KeysPage {
  readonly keys: readonly string[];
  readonly next: string | null;
}

/**
 * Whether a key with this stored version set is listed: some version of it reads as present at
 * `nowMs`, neither a delete nor expired (`ttl_ms`), as a get would answer it.
 */
export function isListed(clock: StoredClock, nowMs: number): boolean {
  if (clock.a.some((v) => isLiveAt(v, nowMs))) return true;
  return clock.e.some((e) => e[2].some((v) => isLiveAt(v, nowMs)));
}

/** Whether `key` starts with `prefix` (an empty prefix matches everything). */
export function hasPrefix(key: string, prefix: string): boolean {
  return key.startsWith(prefix);
}

/** Bytes a key takes in a JSON reply, quotes and comma included. */
export function keyReplyBytes(key: string): number {
  return Buffer.byteLength(JSON.stringify(key), 'utf8') + 1;
}

/**
 * One page out of pages that cover disjoint sets of partitions, for the same request. Keys up to
 * the smallest `next` are complete in every page, so they are complete in the union; of those the
 * first `limit` (and at most KEYS_PAGE_BYTES_MAX of them) are taken. A page cut at `limit` goes on
 * after its last key; otherwise after the smallest `next` (null when every page is complete).
 */
export function mergePages(pages: readonly KeysPage[], limit: number, bytesMax: number = KEYS_PAGE_BYTES_MAX): KeysPage {
  let frontier: string | null = null;
  for (const p of pages) if (p.next !== null && (frontier === null || compareCodePoints(p.next, frontier) < 0)) frontier = p.next;
  const heads = pages.map(() => 0);
  const keys: string[] = [];
  let bytes = 0;
  for (;;) {
    let best = -1;
    for (let i = 0; i < pages.length; i++) {
      const k = pages[i]!.keys[heads[i]!];
      if (k === undefined) continue;
      if (best === -1 || compareCodePoints(k, pages[best]!.keys[heads[best]!]!) < 0) best = i;
    }
    if (best === -1) break;
    const key = pages[best]!.keys[heads[best]!]!;
    if (frontier !== null && compareCodePoints(key, frontier) > 0) break;
    const kb = keyReplyBytes(key);
    if (keys.length >= limit || (keys.length > 0 && bytes + kb > bytesMax)) return { keys, next: keys[keys.length - 1]! };
    heads[best]!++;
    // Pages cover disjoint partitions, so a key is in one of them; equal keys would be a bug
    // upstream, and are still listed once.
    if (keys.length > 0 && keys[keys.length - 1] === key) continue;
    keys.push(key);
    bytes += kb;
  }
  return { keys, next: frontier };
}

/**
 * The covering set: for each partition one node to ask, among its first `n` owners that are up
 * and not excluded for it (`tried`: pairs that failed already). This node is preferred (no round
 * trip), the others spread by partition number so that no one peer serves every listing.
 * Returns the nodes with their partitions, and the partitions no candidate is left for.
 */
export function coveringPlan(ring: Ring, n: number, self: string, isUp: (node: string) => boolean, partitions: readonly number[], tried: (p: number, node: string) => boolean): { byNode: Map<string, number[]>; uncovered: number[] } {
  const byNode = new Map<string, number[]>();
  const uncovered: number[] = [];
  for (const p of partitions) {
    const owners = ring.replicas(p, n).filter((node) => (node === self || isUp(node)) && !tried(p, node));
    if (owners.length === 0) {
      uncovered.push(p);
      continue;
    }
    const node = owners.includes(self) ? self : owners[p % owners.length]!;
    let list = byNode.get(node);
    if (!list) byNode.set(node, (list = []));
    list.push(p);
  }
  return { byNode, uncovered };
}

export interface ScanRequest {
  readonly prefix: string;
  readonly after?: string;
  readonly limit: number;
}

/**
 * Where one partition's scan starts: after `after`, or at the prefix when that comes later.
 * `entries(p, from)` lists keys greater than `from`, so a key equal to the prefix is read apart
 * (`includeFrom`).
 */
export function scanStart(req: ScanRequest): { from: string | undefined; includeFrom: boolean } {
  if (req.prefix === '') return { from: req.after, includeFrom: false };
  if (req.after !== undefined && compareCodePoints(req.after, req.prefix) >= 0) return { from: req.after, includeFrom: false };
  return { from: req.prefix, includeFrom: true };
}

/** Whether a scan past `key` can still meet keys with the prefix: they are contiguous in key order. */
export function pastPrefix(key: string, prefix: string): boolean {
  return !hasPrefix(key, prefix) && compareCodePoints(key, prefix) > 0;
}
