/**
 * The ring: Dynamo's partitioning strategy 3 (DeCandia et al. 2007, §6.2). The MD5 space is cut
 * into Q equal partitions and an assignment names the owner of each one. A join or leave moves
 * whole partitions, never re-hashes keys, and moves only the partitions that must move.
 *
 * Pure: no I/O, no clock, no randomness. The same member history always yields the same ring,
 * so every node can compute it from the gossiped member list alone.
 */
import { hash } from 'node:crypto';

const DEFAULT_Q = 64;
const Q_MIN = 1;
/** Bounds claim's O(Q^2) work (about a second for 16 members at 4096) and the Q lists a Ring keeps. */
const Q_MAX = 4096;

/**
 * Two partitions of one node closer than this would fall in one preference list for N = 3
 * (N - 1 = 2): the walk then skips the second and reaches further round the ring, and the node
 * replicates fewer partitions than its share while its neighbours replicate more.
 */
const SPREAD_DISTANCE_PARTITIONS = 2;

/** The owner node ID of each partition. Invariant: the length is a valid Q. */
type Assignment = readonly string[];

function assertValidQ(q: number): void {
  if (!Number.isInteger(q) || q < Q_MIN || q > Q_MAX || (q & (q - 1)) !== 0) {
    throw new RangeError(`Q must be a power of two in [${Q_MIN}, ${Q_MAX}], got ${q}`);
  }
}

function validQOf(assignment: Assignment): number {
  assertValidQ(assignment.length);
  return assignment.length;
}

function assertValidPartition(partition: number, q: number): void {
  if (!Number.isInteger(partition) || partition < 0 || partition >= q) {
    throw new RangeError(`partition must be an integer in [0, ${q}), got ${partition}`);
  }
}

function assertValidReplicaCount(n: number): void {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`replica count must be an integer >= 1, got ${n}`);
}

/** The top log2(Q) bits of md5(utf8 key): partition p covers [p*2^128/Q, (p+1)*2^128/Q). */
function partitionOf(key: string, q: number): number {
  assertValidQ(q);
  const bits = 31 - Math.clz32(q);
  // Q <= 4096 needs at most 12 bits, so the first two bytes of the digest suffice.
  let top16 = top16ByKey.get(key);
  if (top16 === undefined) {
    // One-shot hash: no Hash object per key (half the cost of createHash on the request path).
    top16 = hash('md5', key, 'buffer').readUInt16BE(0);
    // A new Map rather than clear(), which keeps the old table's keys until a full GC (actors/outbox.ts).
    if (top16ByKey.size >= TOP16_CACHE_KEYS_MAX) top16ByKey = new Map();
    top16ByKey.set(key, top16);
  }
  return top16 >>> (16 - bits);
}

/**
 * The first 16 bits of recent keys' MD5, whatever Q: a call into node:crypto per request was
 * 2.7% of a node's busy time on workload C, where a few keys take most requests. Emptied when
 * full, which costs a burst of misses rather than bookkeeping on every hit.
 */
const TOP16_CACHE_KEYS_MAX = 16_384;
let top16ByKey = new Map<string, number>();

/** Distinct owners in order of first appearance. */
function members(assignment: Assignment): string[] {
  return [...new Set(assignment)];
}

/** Partitions per owner, in order of first appearance. */
function ownedCounts(assignment: Assignment): Map<string, number> {
  const counts = new Map<string, number>();
  for (const owner of assignment) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return counts;
}

/** Whether `node` owns a partition other than `partition` within SPREAD_DISTANCE_PARTITIONS of it. */
function ownsNeighbour(assignment: Assignment, partition: number, node: string): boolean {
  const q = assignment.length;
  for (let d = 1; d <= SPREAD_DISTANCE_PARTITIONS; d++) {
    const after = (partition + d) % q;
    const before = (partition - d + q) % q;
    if ((after !== partition && assignment[after] === node) || (before !== partition && assignment[before] === node)) {
      return true;
    }
  }
  return false;
}

/**
 * `node` joins: it takes exactly floor(Q/S) partitions (S = owners afterwards) and nothing else
 * moves. From a balanced assignment (every owner at floor or ceil of Q/(S-1)) the result is
 * balanced at floor or ceil of Q/S.
 *
 * When S > Q the newcomer's share is zero: it owns nothing and so is absent from the assignment;
 * membership must then be known from elsewhere.
 */
function claim(assignment: Assignment, node: string): string[] {
  const q = validQOf(assignment);
  if (assignment.includes(node)) throw new Error(`claim: ${node} already owns partitions`);
  const next = [...assignment];
  const counts = ownedCounts(assignment);
  const takeCount = Math.floor(q / (counts.size + 1));
  for (let taken = 0; taken < takeCount; taken++) {
    const partition = partitionToClaim(next, counts, node);
    const donor = next[partition]!;
    counts.set(donor, counts.get(donor)! - 1);
    next[partition] = node;
  }
  return next;
}

/**
 * The next partition `node` takes. Only donors that the final balance lets give are considered
 * (an owner above floor(Q/S) + 1, or one at floor + 1 while fewer owners than the balance allows
 * sit at floor),
 * which leaves more room to keep the ring spread than "always the single most loaded". Preference,
 * in order: no partition of `node` within reach; the donor has another partition within reach
 * (so taking this one removes a clustered pair); the more loaded donor; the lower index.
 */
function partitionToClaim(assignment: string[], counts: ReadonlyMap<string, number>, node: string): number {
  const q = assignment.length;
  const ownersAfter = counts.size + 1;
  const shareFloor = Math.floor(q / ownersAfter);
  // Of the existing owners this many end at shareFloor + 1, the rest at shareFloor.
  const atCeilEnd = q % ownersAfter;
  const atFloorEnd = ownersAfter - 1 - atCeilEnd;
  let atOrBelowFloor = 0;
  for (const count of counts.values()) if (count <= shareFloor) atOrBelowFloor++;
  const canGive = (count: number): boolean =>
    count > shareFloor + 1 || (count === shareFloor + 1 && atOrBelowFloor < atFloorEnd);

  let loadMax = 0;
  for (const count of counts.values()) loadMax = Math.max(loadMax, count);
  // Nothing ranks better than this, so the scan may stop there.
  const rankFloor = Q_MAX - loadMax;
  let best = -1;
  let bestRank = Infinity;
  for (let p = 0; p < q && bestRank > rankFloor; p++) {
    const owner = assignment[p]!;
    const count = counts.get(owner)!;
    if (owner === node || !canGive(count)) continue;
    // The three preferences as one number, most significant first; count <= Q_MAX keeps them apart.
    const crowdsNode = ownsNeighbour(assignment, p, node) ? 1 : 0;
    const leavesDonorSpread = ownsNeighbour(assignment, p, owner) ? 0 : 1;
    const rank = (crowdsNode * 2 + leavesDonorSpread) * (Q_MAX + 1) + (Q_MAX - count);
    if (rank < bestRank) {
      best = p;
      bestRank = rank;
    }
  }
  // Only an unbalanced input gets here; still progress, from the most loaded.
  return best >= 0 ? best : firstOfMostLoaded(assignment, counts, node);
}

function firstOfMostLoaded(assignment: string[], counts: ReadonlyMap<string, number>, node: string): number {
  const loadMax = Math.max(...counts.values());
  const p = assignment.findIndex((owner) => owner !== node && counts.get(owner) === loadMax);
  if (p < 0) throw new Error(`claim: no partition left to take for ${node}: owner counts out of step with the assignment`);
  return p;
}

/**
 * `node` leaves: its partitions, in ascending order, go to the remaining owners and nothing else
 * moves. From a balanced assignment the result is balanced at floor or ceil of Q/(S-1). A node
 * that owns nothing has nothing to hand over: the result is an unchanged copy.
 */
function release(assignment: Assignment, node: string): string[] {
  validQOf(assignment);
  const next = [...assignment];
  const counts = ownedCounts(assignment);
  if (!counts.has(node)) return next;
  counts.delete(node);
  if (counts.size === 0) throw new Error(`release: ${node} is the only owner and a ring cannot be empty`);
  for (let p = 0; p < next.length; p++) {
    if (next[p] !== node) continue;
    const heir = heirOf(next, counts, p);
    counts.set(heir, counts.get(heir)! + 1);
    next[p] = heir;
  }
  return next;
}

/**
 * Who inherits `partition`. Only owners that the final balance lets grow are considered (below
 * floor(Q/R), or at floor while fewer than Q mod R have reached ceil). Preference, in order: no
 * partition within reach of this one; the less loaded; first appearance in the assignment.
 */
function heirOf(assignment: string[], counts: ReadonlyMap<string, number>, partition: number): string {
  const q = assignment.length;
  const shareFloor = Math.floor(q / counts.size);
  const atCeilEnd = q % counts.size;
  let aboveFloor = 0;
  for (const count of counts.values()) if (count > shareFloor) aboveFloor++;
  const canTake = (count: number): boolean => count < shareFloor || (count === shareFloor && aboveFloor < atCeilEnd);

  let best: string | undefined;
  let bestRank = Infinity;
  for (const [owner, count] of counts) {
    if (!canTake(count)) continue;
    // Both preferences as one number, most significant first; count <= Q_MAX keeps them apart.
    const rank = (ownsNeighbour(assignment, partition, owner) ? 1 : 0) * (Q_MAX + 1) + count;
    if (rank < bestRank) {
      best = owner;
      bestRank = rank;
    }
  }
  if (best !== undefined) return best;
  // Only an unbalanced input gets here; still progress, to the least loaded.
  const loadMin = Math.min(...counts.values());
  return [...counts].find(([, count]) => count === loadMin)![0];
}

/** The first member owns everything, then each further member claims in list order. */
function initialAssignment(memberList: readonly string[], q: number): string[] {
  assertValidQ(q);
  const [first, ...rest] = memberList;
  if (first === undefined) throw new RangeError('initialAssignment needs at least one member');
  if (new Set(memberList).size !== memberList.length) throw new RangeError('initialAssignment: duplicate member');
  let assignment = new Array<string>(q).fill(first);
  for (const member of rest) assignment = claim(assignment, member);
  return assignment;
}

/**
 * Every distinct owner met walking clockwise from `partition`, in order of first meeting. The
 * first N are the replicas; the rest are the fallbacks a sloppy quorum hands hints to.
 */
function preferenceList(assignment: Assignment, partition: number): string[] {
  const q = validQOf(assignment);
  assertValidPartition(partition, q);
  return walk(assignment, partition, new Set(assignment).size);
}

function walk(assignment: Assignment, partition: number, ownerCount: number): string[] {
  const q = assignment.length;
  const seen = new Set<string>();
  for (let step = 0; step < q && seen.size < ownerCount; step++) seen.add(assignment[(partition + step) % q]!);
  return [...seen];
}

function preferenceListForKey(assignment: Assignment, key: string): string[] {
  return preferenceList(assignment, partitionOf(key, validQOf(assignment)));
}

/** Partitions, ascending, for which `node` is among the first `n` of the preference list. */
function replicaPartitions(assignment: Assignment, node: string, n: number): number[] {
  const q = validQOf(assignment);
  assertValidReplicaCount(n);
  const ownerCount = new Set(assignment).size;
  const result: number[] = [];
  for (let p = 0; p < q; p++) {
    if (walk(assignment, p, ownerCount).slice(0, n).includes(node)) result.push(p);
  }
  return result;
}

/** An assignment with every preference list computed once, for the request path. */
class Ring {
  readonly q: number;
  readonly assignment: Assignment;
  /** Invariant: #preferenceLists[p] equals preferenceList(assignment, p); length q. */
  readonly #preferenceLists: readonly (readonly string[])[];
  readonly #members: readonly string[];

  constructor(assignment: Assignment) {
    this.q = validQOf(assignment);
    this.assignment = Object.freeze([...assignment]);
    this.#members = Object.freeze(members(assignment));
    const lists: (readonly string[])[] = [];
    for (let p = 0; p < this.q; p++) lists.push(Object.freeze(walk(this.assignment, p, this.#members.length)));
    this.#preferenceLists = Object.freeze(lists);
  }

  partitionOf(key: string): number {
    return partitionOf(key, this.q);
  }

  preferenceList(partition: number): readonly string[] {
    assertValidPartition(partition, this.q);
    return this.#preferenceLists[partition]!;
  }

  replicas(partition: number, n: number): readonly string[] {
    assertValidReplicaCount(n);
    return this.preferenceList(partition).slice(0, n);
  }

  replicaPartitions(node: string, n: number): number[] {
    assertValidReplicaCount(n);
    const result: number[] = [];
    for (let p = 0; p < this.q; p++) {
      if (this.#preferenceLists[p]!.slice(0, n).includes(node)) result.push(p);
    }
    return result;
  }

  members(): readonly string[] {
    return this.#members;
  }
}

export type { Assignment };
export {
  DEFAULT_Q,
  Q_MIN,
  Q_MAX,
  assertValidQ,
  partitionOf,
  members,
  ownedCounts,
  claim,
  release,
  initialAssignment,
  preferenceList,
  preferenceListForKey,
  replicaPartitions,
  Ring,
};
