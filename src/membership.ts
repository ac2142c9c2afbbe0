/**
 * Membership state: who is in the cluster, in which lifecycle state, and who owns which
 * partition. This is the value the gossip actor spreads; it is a join-semilattice, so replicas
 * that merge every view they receive converge whatever the order, grouping or repetition of
 * deliveries (merge is commutative, associative and idempotent; see test/membership.test.ts).
 *
 * Pure: no I/O, no clock, no randomness. Plain data only (arrays, objects with fixed keys,
 * numbers, strings, booleans) so that a view travels as is through JSON or msgpack; node IDs are
 * never used as object keys.
 *
 * How the view is built, and why (after riak_core: riak_core_ring reconcile + the claimant):
 *
 * - `members`: one entry per node ever seen, sorted by node ID. The entry is its own small
 *   lattice, so no membership request is ever lost in a merge:
 *     - `incarnation` counts the node's memberships: a removed node that joins again starts a new
 *       incarnation, and the higher incarnation wins the whole entry;
 *     - within one incarnation `status` only moves forward, joining → valid → leaving → exiting →
 *       removed, and merge takes the furthest: concurrent "leave" and "mark valid" give leaving;
 *     - the down mark is orthogonal to the lifecycle (a leaving node can be unreachable too, and
 *       clearing the mark must give back the status it had), so it is a flag with its own counter
 *       of changes: the higher `downVersion` wins. Since every change flips the flag, the counter's
 *       parity is the flag, so equal counters always agree and concurrent marks never conflict.
 *   Removed entries stay as tombstones: dropping them would let an older view bring them back.
 *
 * - `ring`: the assignment plus the nodes in it and a history of committed changes. Rings are not
 *   merged field by field (two different assignments have no meaningful "union"): the greater
 *   ring wins whole. `version` is a Lamport counter (each committed change sets it to one more
 *   than the ring it was made from), so a ring made after another one always has the larger
 *   version; equal versions (concurrent commits) are ordered by committer, then by content. That
 *   is a total order, and the max of a total order is a lawful merge.
 *   Staging is separate from committing: a join or leave only writes the member's status; a
 *   commit (by the claimant, see `claimantOf`) turns every pending status into ring changes. A
 *   commit that loses to a concurrent one is therefore not lost: the member status still says
 *   "joining and not in the ring" or "leaving and still in the ring", so the next commit re-plans
 *   it, as Riak's claimant does. Concurrent commits only happen with two claimants (a partitioned
 *   cluster); the actor should commit only on a converged view, as Riak does.
 *   Rejected alternative: a ring recomputed from the union of all committed changes in a
 *   deterministic order. It loses nothing, but a merge may reorder changes already acted on, which
 *   moves partitions a second time, and the history could never be trimmed.
 *
 * - `vv`: a version vector with one tick per change made at each actor (node). Every change is an
 *   inflation (the result is above its input in the lattice) and ticks the vector, so a view is a
 *   function of the changes it has seen: equal vectors mean equal views, and when one view's
 *   vector descends the other's, merge returns the first view (the gossip actor can compare vectors
 *   to skip work). This needs each actor ID to be used by one replica at a time, changing only its
 *   own latest view, which is how a node uses its own ID.
 *
 * Unreachable nodes are never removed here: membership changes only through explicit changes.
 */
import { DkvError } from './errors.ts';
import { assertValidQ, claim, initialAssignment, release, type Assignment } from './ring.ts';
import { assertValidName, isValidName } from './subjects.ts';
import * as VV from './versionVector.ts';
import type { VersionVector } from './versionVector.ts';

/** Lifecycle of one incarnation of a member, in the only order it moves. */
const MEMBER_STATUSES = ['joining', 'valid', 'leaving', 'exiting', 'removed'] as const;
type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** Entries in `members`, tombstones included: the bound on a view's size and on a merge's work. */
const MEMBERS_MAX = 1024;
/** Ring changes kept in `ring.history`, the most recent ones; older ones are dropped at commit. */
const HISTORY_MAX = 128;

interface Member {
  readonly node: string;
  /** Invariant: a positive safe integer; one more each time the node joins again after removal. */
  readonly incarnation: number;
  /** Invariant: moves only forward (MEMBER_STATUSES order) within one incarnation. */
  readonly status: MemberStatus;
  /** Operator flag: the node is known to be down. It stays in the ring and keeps its partitions. */
  readonly downMarked: boolean;
  /**
   * How many times `downMarked` changed in this incarnation. Invariant: a safe integer >= 0, odd
   * exactly when `downMarked` is set (it starts clear and every change flips it).
   */
  readonly downVersion: number;
}

type RingChangeKind = 'join' | 'leave';

interface RingChange {
  /** The ring version this change produced. Invariant: strictly increasing along a history. */
  readonly version: number;
  readonly change: RingChangeKind;
  readonly node: string;
}

interface RingState {
  /** Owner of each partition. Invariant: every owner is in `nodes`. */
  readonly assignment: Assignment;
  /**
   * The nodes in the ring, in the order they came in. With more nodes than partitions some own
   * nothing (see ring.ts `claim`), which is why this list is kept beside the assignment.
   * Invariant: unique, each one has an entry in the view's `members`.
   */
  readonly nodes: readonly string[];
  /** Lamport counter: 0 for an initial ring, then one more per committed change. */
  readonly version: number;
  /** Who committed this ring ('' for an initial ring): the first tiebreak between concurrent rings. */
  readonly committer: string;
  /** Invariant: at most HISTORY_MAX entries, the last one's version <= `version`. */
  readonly history: readonly RingChange[];
}

interface View {
  /** Invariant: sorted by node ID (JavaScript string order), unique, at most MEMBERS_MAX. */
  readonly members: readonly Member[];
  readonly ring: RingState;
  readonly vv: VersionVector;
}

/** Every way a view can change; plain data, so an actor can forward it to the claimant. */
type Change =
  | { readonly kind: 'join'; readonly node: string }
  | { readonly kind: 'leave'; readonly node: string }
  | { readonly kind: 'commit' }
  | { readonly kind: 'markValid'; readonly node: string }
  | { readonly kind: 'markExited'; readonly node: string }
  | { readonly kind: 'markRemoved'; readonly node: string }
  | { readonly kind: 'markDown'; readonly node: string }
  | { readonly kind: 'markUp'; readonly node: string };

const CHANGE_KINDS = ['join', 'leave', 'commit', 'markValid', 'markExited', 'markRemoved', 'markDown', 'markUp'] as const;

/** A staged change the next commit will make, in the order it will make it. */
interface PendingChange {
  readonly change: RingChangeKind;
  readonly node: string;
}

interface Transfer {
  readonly partition: number;
  readonly from: string;
  readonly to: string;
}

// ---- construction ----------------------------------------------------------------------------

/**
 * The view every node of a fresh cluster computes from the same `--members` list: all valid, the
 * assignment of ring.ts `initialAssignment` (list order matters), version 0, an empty clock.
 */
function initialView(memberList: readonly string[], q: number): View {
  assertValidQ(q);
  if (memberList.length === 0) throw new RangeError('initialView needs at least one member');
  if (memberList.length > MEMBERS_MAX) throw new RangeError(`initialView: at most ${MEMBERS_MAX} members, got ${memberList.length}`);
  for (const node of memberList) assertValidName('node', node);
  if (new Set(memberList).size !== memberList.length) throw new RangeError('initialView: duplicate member');
  // ring.nodes keeps every member, also those that own nothing (more members than partitions).
  const assignment = initialAssignment(memberList, q);
  return {
    members: [...memberList].sort(compareStrings).map((node) => newMember(node, 1, 'valid')),
    ring: { assignment, nodes: [...memberList], version: 0, committer: '', history: [] },
    vv: VV.EMPTY_VV,
  };
}

function newMember(node: string, incarnation: number, status: MemberStatus): Member {
  return { node, incarnation, status, downMarked: false, downVersion: 0 };
}

// ---- reading ---------------------------------------------------------------------------------

function memberOf(view: View, node: string): Member | undefined {
  return view.members.find((m) => m.node === node);
}

/** A copy of the assignment, for `new Ring(...)` and the other functions of ring.ts. */
function ownersOf(view: View): string[] {
  return [...view.ring.assignment];
}

function qOf(view: View): number {
  return view.ring.assignment.length;
}

/**
 * The changes a commit would make now: joining members not yet in the ring (sorted), then
 * members in the ring that are leaving or beyond (sorted). A leave that would empty the ring is
 * listed but skipped by commit until some other node has joined.
 */
function pendingChanges(view: View): PendingChange[] {
  const inRing = new Set(view.ring.nodes);
  const joins: PendingChange[] = [];
  const leaves: PendingChange[] = [];
  for (const m of view.members) {
    if (m.status === 'joining' && !inRing.has(m.node)) joins.push({ change: 'join', node: m.node });
    if (rank(m.status) >= rank('leaving') && inRing.has(m.node)) leaves.push({ change: 'leave', node: m.node });
  }
  return [...joins, ...leaves];
}

/**
 * The node that should commit staged changes (Riak's claimant): the lowest ID among valid members
 * not marked down (and, given `isUp`, believed up by the caller); failing that, among ring nodes
 * not marked down; failing that, among ring nodes. Every replica with the same view and the same
 * beliefs names the same claimant; nodes that disagree about who is up may both commit, which is
 * lawful (the greater ring wins, the other's changes stay staged for the next commit), only
 * wasteful. Without `isUp`, a claimant that is down would leave every change staged.
 */
function claimantOf(view: View, isUp: (node: string) => boolean = () => true): string | undefined {
  const inRing = new Set(view.ring.nodes);
  const tiers: ((m: Member) => boolean)[] = [
    (m) => m.status === 'valid' && !m.downMarked && isUp(m.node),
    (m) => m.status === 'valid' && !m.downMarked,
    (m) => inRing.has(m.node) && !m.downMarked,
    (m) => inRing.has(m.node),
  ];
  for (const eligible of tiers) {
    const found = view.members.find(eligible); // members are sorted: the first is the lowest
    if (found !== undefined) return found.node;
  }
  return undefined;
}

/** Partitions, ascending, whose owner differs between the two views. Both must have the same Q. */
function transfers(before: View, after: View): Transfer[] {
  const from = before.ring.assignment;
  const to = after.ring.assignment;
  if (from.length !== to.length) throw new RangeError(`transfers: Q differs (${from.length} versus ${to.length})`);
  const out: Transfer[] = [];
  for (let p = 0; p < from.length; p++) {
    if (from[p] !== to[p]) out.push({ partition: p, from: from[p]!, to: to[p]! });
  }
  return out;
}

// ---- changes ---------------------------------------------------------------------------------

/**
 * The one place a view changes. Returns the same view object when the change has nothing to do
 * (already joined, already valid, nothing pending...), so that retries are harmless and do not
 * tick the clock; otherwise a new view with `actor`'s counter one higher.
 *
 * A change that does not fit the view (unknown node, the last member leaving, a join while still
 * leaving, "valid" before the join was committed...) throws a DkvError 'bad_request' that says
 * why. An invalid `actor` is a programming error: RangeError.
 */
function applyChange(view: View, change: Change, actor: string): View {
  assertValidName('node', actor);
  const next = decide(view, change, actor);
  if (next === undefined) return view;
  return { members: next.members ?? view.members, ring: next.ring ?? view.ring, vv: VV.increment(view.vv, actor) };
}

interface Decision {
  members?: readonly Member[];
  ring?: RingState;
}

function decide(view: View, change: Change, actor: string): Decision | undefined {
  if (change.kind === 'commit') {
    const ring = commitRing(view, actor);
    return ring === undefined ? undefined : { ring };
  }
  const { node } = change;
  if (!isValidName(node)) throw badRequest(`node name ${JSON.stringify(node)} must be 1..64 characters of A-Z a-z 0-9 _ -`);
  const m = memberOf(view, node);
  if (change.kind === 'join') return decideJoin(view, node, m);
  if (m === undefined) throw badRequest(`${node} is not a member`);
  const inRing = view.ring.nodes.includes(node);
  switch (change.kind) {
    case 'leave': {
      if (m.status !== 'joining' && m.status !== 'valid') return undefined; // already on its way out
      const staying = view.members.filter((o) => o.node !== node && (o.status === 'joining' || o.status === 'valid'));
      if (staying.length === 0) throw badRequest(`${node} is the last member and cannot leave`);
      return withMember(view, { ...m, status: 'leaving' });
    }
    case 'markValid':
      if (m.status !== 'joining') return undefined; // valid already, or further on
      if (!inRing) throw badRequest(`${node} cannot be valid: its join is not committed yet`);
      return withMember(view, { ...m, status: 'valid' });
    case 'markExited':
      if (rank(m.status) > rank('leaving')) return undefined;
      if (m.status !== 'leaving') throw badRequest(`${node} is ${m.status}, not leaving`);
      if (inRing) throw badRequest(`${node} cannot have exited: its leave is not committed yet`);
      return withMember(view, { ...m, status: 'exiting' });
    case 'markRemoved':
      if (m.status === 'removed') return undefined;
      if (m.status !== 'exiting') throw badRequest(`${node} is ${m.status}: only an exiting node can be removed`);
      return withMember(view, { ...m, status: 'removed' });
    case 'markDown':
    case 'markUp': {
      if (m.status === 'removed') throw badRequest(`${node} has been removed`);
      const downMarked = change.kind === 'markDown';
      if (m.downMarked === downMarked) return undefined;
      return withMember(view, { ...m, downMarked, downVersion: m.downVersion + 1 });
    }
  }
}

function decideJoin(view: View, node: string, m: Member | undefined): Decision | undefined {
  if (m === undefined) {
    if (view.members.length >= MEMBERS_MAX) throw badRequest(`the cluster already has ${MEMBERS_MAX} member entries`);
    return withMember(view, newMember(node, 1, 'joining'));
  }
  switch (m.status) {
    case 'joining':
    case 'valid':
      return undefined;
    case 'leaving':
    case 'exiting':
      throw badRequest(`${node} is ${m.status}: it can join again once removed`);
    case 'removed':
      return withMember(view, newMember(node, m.incarnation + 1, 'joining'));
  }
}

/** `view.members` with `member` put in its sorted place (replacing the entry of the same node). */
function withMember(view: View, member: Member): Decision {
  const others = view.members.filter((m) => m.node !== member.node);
  const at = others.findIndex((m) => m.node > member.node);
  const members = at < 0 ? [...others, member] : [...others.slice(0, at), member, ...others.slice(at)];
  return { members };
}

/**
 * Every pending change made on the ring: joins first (so that a join and the leave of the last
 * other node in one commit never empty the ring), each by ring.ts `claim` or `release`, so only
 * the partitions that must move do. Undefined when nothing changes.
 */
function commitRing(view: View, actor: string): RingState | undefined {
  const ring = view.ring;
  let assignment: string[] = [...ring.assignment];
  let nodes = [...ring.nodes];
  let version = ring.version;
  const history = [...ring.history];
  for (const { change, node } of pendingChanges(view)) {
    if (change === 'join') {
      assignment = claim(assignment, node);
      nodes.push(node);
    } else {
      if (nodes.length === 1) continue; // the last node: it waits for a join
      assignment = handOver(assignment, nodes, node);
      nodes = nodes.filter((n) => n !== node);
    }
    version++;
    history.push({ version, change, node });
  }
  if (version === ring.version) return undefined;
  return { assignment, nodes, version, committer: actor, history: history.slice(-HISTORY_MAX) };
}

/**
 * `leaver`'s partitions go to the other ring nodes. Normally that is ring.ts `release`. With
 * more nodes than partitions some ring nodes own nothing; a balanced ring then has every owner at
 * exactly one partition, so the leaver's partition goes whole to the first idle node: `release`
 * would hand it to an owner, giving that one two while another owns none.
 */
function handOver(assignment: string[], nodes: readonly string[], leaver: string): string[] {
  const owners = new Set(assignment);
  const idle = nodes.find((n) => n !== leaver && !owners.has(n));
  if (idle === undefined) return release(assignment, leaver);
  return assignment.map((owner) => (owner === leaver ? idle : owner));
}

function stageJoin(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'join', node }, actor);
}
function stageLeave(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'leave', node }, actor);
}
function commit(view: View, actor: string): View {
  return applyChange(view, { kind: 'commit' }, actor);
}
/** Every partition the joiner claimed has been handed over to it. */
function markValid(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'markValid', node }, actor);
}
/** The leaver has handed every partition it owned over to its new owner. */
function markExited(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'markExited', node }, actor);
}
/** The exited node has shut down; its entry stays as a tombstone. */
function markRemoved(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'markRemoved', node }, actor);
}
function markDown(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'markDown', node }, actor);
}
function markUp(view: View, node: string, actor: string): View {
  return applyChange(view, { kind: 'markUp', node }, actor);
}

// ---- merge -----------------------------------------------------------------------------------

/**
 * The least view above both: members merged entry by entry, the greater ring, the pointwise
 * maximum of the clocks. Total on valid views (also of different clusters or Q: the gossip actor
 * should refuse those before merging, see `qOf`). Commutative, associative and idempotent on the
 * canonical form compared by `equalViews`.
 */
function merge(a: View, b: View): View {
  return { members: mergeMembers(a.members, b.members), ring: greaterRing(a.ring, b.ring), vv: VV.merge(a.vv, b.vv) };
}

function mergeMembers(a: readonly Member[], b: readonly Member[]): Member[] {
  const out: Member[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const ma = a[i];
    const mb = b[j];
    if (mb === undefined || (ma !== undefined && ma.node < mb.node)) {
      out.push(ma!);
      i++;
    } else if (ma === undefined || mb.node < ma.node) {
      out.push(mb);
      j++;
    } else {
      out.push(mergeMember(ma, mb));
      i++;
      j++;
    }
  }
  return out;
}

/**
 * Higher incarnation wins whole; within one, the furthest status and the later down mark (equal
 * counters carry equal flags: see the parity invariant on `downVersion`).
 */
function mergeMember(a: Member, b: Member): Member {
  if (a.incarnation !== b.incarnation) return a.incarnation > b.incarnation ? a : b;
  const status = rank(a.status) >= rank(b.status) ? a.status : b.status;
  const down = b.downVersion > a.downVersion ? b : a;
  return { node: a.node, incarnation: a.incarnation, status, downMarked: down.downMarked, downVersion: down.downVersion };
}

/** Total order: version, then committer, then the canonical serialization. */
function greaterRing(a: RingState, b: RingState): RingState {
  if (a === b) return a;
  if (a.version !== b.version) return a.version > b.version ? a : b;
  if (a.committer !== b.committer) return a.committer > b.committer ? a : b;
  const sa = JSON.stringify(canonicalRing(a));
  const sb = JSON.stringify(canonicalRing(b));
  return sa >= sb ? a : b;
}

// ---- equality, validation --------------------------------------------------------------------

/** A copy with only the known fields, in a fixed key order: what JSON equality is taken on. */
function canonicalView(view: View): View {
  return {
    members: view.members.map((m) => ({
      node: m.node,
      incarnation: m.incarnation,
      status: m.status,
      downMarked: m.downMarked,
      downVersion: m.downVersion,
    })),
    ring: canonicalRing(view.ring),
    vv: view.vv.map(([id, n]) => [id, n] as const),
  };
}

function canonicalRing(ring: RingState): RingState {
  return {
    assignment: [...ring.assignment],
    nodes: [...ring.nodes],
    version: ring.version,
    committer: ring.committer,
    history: ring.history.map((h) => ({ version: h.version, change: h.change, node: h.node })),
  };
}

function equalViews(a: View, b: View): boolean {
  return a === b || JSON.stringify(canonicalView(a)) === JSON.stringify(canonicalView(b));
}

/** Whether `x` (say, a decoded gossip message) is a valid view: shape and every invariant above. */
function isView(x: unknown): x is View {
  return viewProblem(x) === undefined;
}

/**
 * A canonical copy of `x` (unknown fields dropped, so a peer cannot make junk travel with the
 * gossip), or a DkvError 'bad_request' naming the first problem found.
 */
function decodeView(x: unknown): View {
  const problem = viewProblem(x);
  if (problem !== undefined) throw badRequest(`invalid membership view: ${problem}`);
  return canonicalView(x as View);
}

function viewProblem(x: unknown): string | undefined {
  if (!isRecord(x)) return 'not an object';
  const { members, ring, vv } = x;
  if (!Array.isArray(members) || members.length === 0 || members.length > MEMBERS_MAX) {
    return `members must be an array of 1..${MEMBERS_MAX} entries`;
  }
  let previous: string | undefined;
  for (const m of members as unknown[]) {
    const problem = memberProblem(m);
    if (problem !== undefined) return problem;
    const node = (m as Member).node;
    if (previous !== undefined && !(previous < node)) return `members not sorted or duplicated at ${node}`;
    previous = node;
  }
  const known = new Set((members as Member[]).map((m) => m.node));
  const problem = ringProblem(ring, known);
  if (problem !== undefined) return problem;
  if (!VV.isVersionVector(vv) || !vv.every(([id]) => isValidName(id))) return 'vv is not a version vector of node IDs';
  return undefined;
}

function memberProblem(m: unknown): string | undefined {
  if (!isRecord(m)) return 'a member is not an object';
  if (typeof m.node !== 'string' || !isValidName(m.node)) return `invalid member node ${JSON.stringify(m.node)}`;
  if (!isCount(m.incarnation) || m.incarnation < 1) return `invalid incarnation for ${m.node}`;
  if (typeof m.status !== 'string' || !(MEMBER_STATUSES as readonly string[]).includes(m.status)) return `invalid status for ${m.node}`;
  if (typeof m.downMarked !== 'boolean' || !isCount(m.downVersion) || m.downMarked !== (m.downVersion % 2 === 1)) {
    return `invalid down mark for ${m.node}`;
  }
  return undefined;
}

function ringProblem(ring: unknown, known: ReadonlySet<string>): string | undefined {
  if (!isRecord(ring)) return 'ring is not an object';
  const { assignment, nodes, version, committer, history } = ring;
  if (!Array.isArray(nodes) || nodes.length === 0 || nodes.length > MEMBERS_MAX) return 'ring nodes must be a non-empty array';
  if (!nodes.every((n) => typeof n === 'string' && known.has(n))) return 'a ring node is not a member';
  const inRing = new Set(nodes as string[]);
  if (inRing.size !== nodes.length) return 'ring nodes are not unique';
  if (!Array.isArray(assignment)) return 'assignment is not an array';
  try {
    assertValidQ(assignment.length);
  } catch {
    return `assignment length ${assignment.length} is not a valid Q`;
  }
  if (!assignment.every((owner) => typeof owner === 'string' && inRing.has(owner))) return 'a partition owner is not a ring node';
  if (!isCount(version)) return 'invalid ring version';
  if (typeof committer !== 'string' || (committer !== '' && !isValidName(committer))) return 'invalid committer';
  if (!Array.isArray(history) || history.length > HISTORY_MAX) return `history must be an array of at most ${HISTORY_MAX}`;
  let last = 0;
  for (const h of history as unknown[]) {
    if (!isRecord(h) || !isCount(h.version) || h.version <= last || h.version > version) return 'history versions out of order';
    if ((h.change !== 'join' && h.change !== 'leave') || typeof h.node !== 'string' || !isValidName(h.node)) return 'invalid history entry';
    last = h.version;
  }
  return undefined;
}

/** Whether `x` is a valid Change (for messages forwarded to the claimant). */
function isChange(x: unknown): x is Change {
  if (!isRecord(x) || typeof x.kind !== 'string' || !(CHANGE_KINDS as readonly string[]).includes(x.kind)) return false;
  return x.kind === 'commit' || (typeof x.node === 'string' && isValidName(x.node));
}

// ---- helpers ---------------------------------------------------------------------------------

function rank(status: MemberStatus): number {
  return MEMBER_STATUSES.indexOf(status);
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

function badRequest(message: string): DkvError {
  return new DkvError('bad_request', message);
}

export type { MemberStatus, Member, RingChange, RingChangeKind, RingState, View, Change, PendingChange, Transfer };
export {
  MEMBER_STATUSES,
  MEMBERS_MAX,
  HISTORY_MAX,
  initialView,
  memberOf,
  ownersOf,
  qOf,
  pendingChanges,
  claimantOf,
  transfers,
  applyChange,
  stageJoin,
  stageLeave,
  commit,
  markValid,
  markExited,
  markRemoved,
  markDown,
  markUp,
  merge,
  equalViews,
  canonicalView,
  isView,
  decodeView,
  isChange,
};
