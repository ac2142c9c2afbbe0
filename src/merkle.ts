/**
 * Merkle trees for anti-entropy (Dynamo §4.7): one per partition replica, of fixed shape, kept up
 * to date incrementally on every write, so that an exchange never rebuilds anything.
 *
 * Shape: a root, then FANOUT children per node, DEPTH levels below the root; the last level has
 * LEAVES buckets. A key's bucket comes from a hash independent of the MD5 bits that name its
 * partition, so a partition's keys spread over every bucket. A node's hash is the XOR of the
 * hashes of all (key, version set) pairs below it: XOR makes an update O(DEPTH) (remove the old
 * pair's hash, add the new one's, on the path to the root) and the tree independent of the order
 * keys were added in, so an incremental tree and a rebuilt one are equal by construction.
 * Hashes are 64 bits (two 32-bit halves) of the key and the dots of its version set.
 *
 * Pure: no I/O. The exchange (`diffKeys`) is written against an interface so that the actor
 * plugs in NATS for the remote side and the tests plug in a direct call (and count bytes).
 */

export const MERKLE_FANOUT = 16;
export const MERKLE_DEPTH = 3;
export const MERKLE_LEAVES = MERKLE_FANOUT ** MERKLE_DEPTH;
const FANOUT_BITS = 4;

/** [high 32 bits, low 32 bits]; [0, 0] is the hash of nothing. */
export type Hash = readonly [number, number];
export const EMPTY_HASH: Hash = [0, 0];

/**
 * The bucket (leaf index) of a key: 12 bits of a fast 64-bit string hash. Buckets only need an
 * even spread that every node computes alike, not MD5: the ring already spends one MD5 per
 * request on the partition, and a second one per replica write showed in profiles.
 */
export function bucketOf(key: string): number {
  return hash64(key)[1] & (MERKLE_LEAVES - 1);
}

/**
 * The hash of one (key, version set) pair; undefined (no entry) hashes to nothing. A version set
 * is named by its dots (actor, counter, how many values that actor's entry holds) and anonymous
 * values: a dot names one value everywhere (a store that lost its data versions under a new
 * identity, see actors/node.ts), so the value bytes need not be hashed on every write.
 */
export function keyHash(key: string, versions: DottedVersions | undefined): Hash {
  if (versions === undefined) return EMPTY_HASH;
  // hash64 of `${key}\0${a.length}` and `\0${id}\0${counter}\0${values}` per entry, fed to the
  // hash piece by piece: building that string cost more than hashing it (reads hash every copy).
  h1 = H1_SEED;
  h2 = H2_SEED;
  feedText(key);
  feedCode(0);
  feedNumber(versions.a.length);
  for (const e of versions.e) {
    feedCode(0);
    feedText(e[0]);
    feedCode(0);
    feedNumber(e[1]);
    feedCode(0);
    feedNumber(e[2].length);
  }
  return finish();
}

/**
 * A 64-bit non-cryptographic hash of a string's UTF-16 code units (two 32-bit lanes mixed with
 * multiply-xorshift, after cyrb53). Nobody chooses keys to collide trees: a collision only hides
 * a difference until either version changes again.
 */
export function hash64(text: string): Hash {
  h1 = H1_SEED;
  h2 = H2_SEED;
  feedText(text);
  return finish();
}

const H1_SEED = 0xdeadbeef;
const H2_SEED = 0x41c6ce57;
/** The two lanes of the hash being fed: module state, so that feeding allocates nothing. */
let h1 = H1_SEED;
let h2 = H2_SEED;

function feedCode(c: number): void {
  h1 = Math.imul(h1 ^ c, 2654435761);
  h2 = Math.imul(h2 ^ c, 1597334677);
}

function feedText(text: string): void {
  for (let i = 0; i < text.length; i++) feedCode(text.charCodeAt(i));
}

/** The code units of `${n}`: decimal digits for a non-negative safe integer, without the string. */
function feedNumber(n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) return feedText(`${n}`);
  let scale = 1;
  while (scale * 10 <= n) scale *= 10;
  for (; scale >= 1; scale /= 10) {
    const digit = Math.floor(n / scale) % 10;
    feedCode(48 + digit);
  }
}

function finish(): Hash {
  const a = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  const b = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(a ^ (a >>> 13), 3266489909);
  return [a >>> 0, b >>> 0];
}

/** The shape of a dvvset clock that keyHash reads (src/dvvset.ts `Clock`). */
export interface DottedVersions {
  readonly e: ReadonlyArray<readonly [string, number, readonly unknown[], number]>;
  readonly a: readonly unknown[];
}

export function sameHash(a: Hash, b: Hash): boolean {
  return a[0] === b[0] && a[1] === b[1];
}

export class MerkleTree {
  /** levels[l] holds FANOUT^l nodes, two uint32 each. */
  readonly #levels: Uint32Array[] = [];
  #keys = 0;

  constructor() {
    for (let l = 0; l <= MERKLE_DEPTH; l++) this.#levels.push(new Uint32Array(2 * MERKLE_FANOUT ** l));
  }

  /** Replaces `before` by `after` as the hash of a key in `bucket` (EMPTY_HASH for absent). */
  update(bucket: number, before: Hash, after: Hash): void {
    if (sameHash(before, after)) return;
    if (sameHash(before, EMPTY_HASH)) this.#keys++;
    else if (sameHash(after, EMPTY_HASH)) this.#keys--;
    const hi = (before[0] ^ after[0]) >>> 0;
    const lo = (before[1] ^ after[1]) >>> 0;
    let index = bucket;
    for (let l = MERKLE_DEPTH; l >= 0; l--) {
      const level = this.#levels[l]!;
      level[2 * index] = (level[2 * index]! ^ hi) >>> 0;
      level[2 * index + 1] = (level[2 * index + 1]! ^ lo) >>> 0;
      index >>>= FANOUT_BITS;
    }
  }

  root(): Hash {
    return this.hash(0, 0);
  }

  hash(level: number, index: number): Hash {
    const l = this.#levels[level];
    if (l === undefined || !Number.isInteger(index) || index < 0 || 2 * index >= l.length) throw new RangeError(`no node ${index} at level ${level}`);
    return [l[2 * index]!, l[2 * index + 1]!];
  }

  /** Keys added and not removed (for status and tests). */
  get keys(): number {
    return this.#keys;
  }
}

/** The node indexes of the children of `index` at the next level. */
export function childrenOf(index: number): number[] {
  return Array.from({ length: MERKLE_FANOUT }, (_, i) => index * MERKLE_FANOUT + i);
}

/** One side of an exchange: its node hashes, and the (key, hash) pairs of some buckets. */
export interface TreeSide {
  hashes(level: number, indexes: readonly number[]): Promise<Hash[]> | Hash[];
  keyHashes(buckets: readonly number[]): Promise<Array<[string, Hash]>> | Array<[string, Hash]>;
}

/**
 * The keys whose version sets differ between two trees (present on one side only, or with other
 * versions), found by descending only into subtrees whose hashes differ. Two equal trees cost
 * one root comparison. `bucketsMax` bounds one exchange: past it the remaining differing
 * buckets wait for the next exchange (the caller learns so through `more`).
 */
export async function diffKeys(local: TreeSide, remote: TreeSide, bucketsMax = MERKLE_LEAVES): Promise<{ keys: string[]; more: boolean }> {
  let differing = [0];
  for (let level = 0; level <= MERKLE_DEPTH; level++) {
    const [mine, theirs] = await Promise.all([local.hashes(level, differing), remote.hashes(level, differing)]);
    if (mine.length !== differing.length || theirs.length !== differing.length) throw new Error(`exchange: expected ${differing.length} hashes at level ${level}`);
    const next = differing.filter((_, i) => !sameHash(mine[i]!, theirs[i]!));
    if (next.length === 0) return { keys: [], more: false };
    differing = level === MERKLE_DEPTH ? next : next.flatMap(childrenOf);
  }
  const more = differing.length > bucketsMax;
  const buckets = differing.slice(0, bucketsMax);
  const [mine, theirs] = await Promise.all([local.keyHashes(buckets), remote.keyHashes(buckets)]);
  const byKey = new Map<string, Hash>(mine);
  const keys = new Set<string>();
  for (const [key, h] of theirs) {
    const m = byKey.get(key);
    if (m === undefined || !sameHash(m, h)) keys.add(key);
    byKey.delete(key);
  }
  for (const key of byKey.keys()) keys.add(key);
  return { keys: [...keys].sort(), more };
}
