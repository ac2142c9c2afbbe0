import test from 'ava';
import fc from 'fast-check';
import { DkvError } from '../src/errors.ts';
import {
  HISTORY_MAX,
  applyChange,
  claimantOf,
  commit,
  decodeView,
  equalViews,
  initialView,
  isChange,
  isView,
  markDown,
  markExited,
  markRemoved,
  markUp,
  markValid,
  memberOf,
  merge,
  ownersOf,
  pendingChanges,
  stageJoin,
  stageLeave,
  transfers,
  type Change,
  type View,
} from '../src/membership.ts';
import { Ring, claim, initialAssignment, release } from '../src/ring.ts';
import * as VV from '../src/versionVector.ts';

// ---- helpers ---------------------------------------------------------------------------------

/** Every ring node owns floor or ceil of Q/S partitions, and only ring nodes own any. */
function isBalanced(view: View): boolean {
  const { assignment, nodes } = view.ring;
  const q = assignment.length;
  const counts = new Map<string, number>();
  for (const owner of assignment) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  if (![...counts.keys()].every((owner) => nodes.includes(owner))) return false;
  const shareFloor = Math.floor(q / nodes.length);
  const shareCeil = Math.ceil(q / nodes.length);
  return nodes.every((n) => {
    const count = counts.get(n) ?? 0;
    return count === shareFloor || count === shareCeil;
  });
}

function changedPartitions(before: View, after: View): number[] {
  return before.ring.assignment.flatMap((owner, p) => (after.ring.assignment[p] === owner ? [] : [p]));
}

function ownedBy(view: View, node: string): number[] {
  return view.ring.assignment.flatMap((owner, p) => (owner === node ? [p] : []));
}

function statusOf(view: View, node: string): string | undefined {
  return memberOf(view, node)?.status;
}

/** Stage, then commit at the claimant, as the admin path will. */
function joinNow(view: View, node: string, actor: string): View {
  const staged = stageJoin(view, node, actor);
  return commit(staged, claimantOf(staged)!);
}

function leaveNow(view: View, node: string, actor: string): View {
  const staged = stageLeave(view, node, actor);
  return commit(staged, claimantOf(staged)!);
}

// ---- random scenarios: changes at random replicas, gossip in random order ----------------------

/** Each replica changes its own view under its own actor ID ('d' holds a view before joining). */
const REPLICAS = ['a', 'b', 'c', 'd'] as const;
const INITIAL = ['a', 'b', 'c'];
const POOL = ['a', 'b', 'c', 'd', 'e', 'f'] as const;

type Op =
  | { kind: 'sync'; from: number; to: number }
  | { kind: 'commit'; at: number }
  /** The next lifecycle step of `node` on the replica's view (valid after join, exited...), or all of them. */
  | { kind: 'progress'; at: number; node: string; all: boolean }
  | { kind: 'change'; at: number; change: Change }
  /** Stage and commit at once at one replica, as a claimant handling an admin request does. */
  | { kind: 'stageCommit'; at: number; join: boolean; node: string };

const replicaArb = fc.nat(REPLICAS.length - 1);
const nodeArb = fc.constantFrom(...POOL);
const changeArb: fc.Arbitrary<Change> = fc.oneof(
  fc.record({ kind: fc.constantFrom('join' as const, 'leave' as const, 'markDown' as const, 'markUp' as const), node: nodeArb }),
  fc.record({ kind: fc.constantFrom('markValid' as const, 'markExited' as const, 'markRemoved' as const), node: nodeArb }),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('sync' as const), from: replicaArb, to: replicaArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('commit' as const), at: replicaArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('progress' as const), at: replicaArb, node: nodeArb, all: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('change' as const), at: replicaArb, change: changeArb }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('stageCommit' as const), at: replicaArb, join: fc.boolean(), node: nodeArb }) },
);
/** Q from 1 (every extra node idle) to 16; with up to 6 nodes both S <= Q and S > Q occur. */
const scenarioArb = fc.record({ q: fc.constantFrom(1, 2, 4, 8, 16), ops: fc.array(opArb, { maxLength: 80, size: 'max' }) });

function nextStep(view: View, node: string): Change | undefined {
  const m = memberOf(view, node);
  if (m === undefined) return undefined;
  const inRing = view.ring.nodes.includes(node);
  if (m.status === 'joining' && inRing) return { kind: 'markValid', node };
  if (m.status === 'leaving' && !inRing) return { kind: 'markExited', node };
  if (m.status === 'exiting') return { kind: 'markRemoved', node };
  return undefined;
}

/** Changes that do not fit the view are refused with bad_request and skipped; anything else fails. */
function tryChange(view: View, change: Change, actor: string): View {
  try {
    return applyChange(view, change, actor);
  } catch (err) {
    if (err instanceof DkvError && err.code === 'bad_request') return view;
    throw err;
  }
}

interface Run {
  finals: View[];
  /** Every view any replica held, in order. */
  snapshots: View[];
}

function run(scenario: { q: number; ops: readonly Op[] }): Run {
  const views = REPLICAS.map(() => initialView(INITIAL, scenario.q));
  const snapshots: View[] = [views[0]!];
  for (const op of scenario.ops) {
    let at: number;
    if (op.kind === 'sync') {
      at = op.to;
      views[at] = merge(views[at]!, views[op.from]!);
    } else {
      at = op.at;
      const actor = REPLICAS[at]!;
      if (op.kind === 'stageCommit') {
        const staged = tryChange(views[at]!, { kind: op.join ? 'join' : 'leave', node: op.node }, actor);
        views[at] = commit(staged, actor);
      } else if (op.kind === 'progress') {
        // One step, or every step the node's lifecycle can take on this view (leaving → exiting → removed).
        for (let step = nextStep(views[at]!, op.node); step !== undefined; step = op.all ? nextStep(views[at]!, op.node) : undefined) {
          views[at] = applyChange(views[at]!, step, actor);
        }
      } else {
        views[at] = tryChange(views[at]!, op.kind === 'commit' ? { kind: 'commit' } : op.change, actor);
      }
    }
    snapshots.push(views[at]!);
  }
  return { finals: views, snapshots };
}

const pickArb = fc.array(fc.tuple(fc.nat(), fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 });

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length]!;
}

// ---- concrete scenarios ----------------------------------------------------------------------

test('initialView - every member valid, the ring of initialAssignment, version 0', (t) => {
  const view = initialView(['n1', 'n2', 'n3'], 64);
  t.deepEqual(ownersOf(view), initialAssignment(['n1', 'n2', 'n3'], 64));
  t.deepEqual(view.ring.nodes, ['n1', 'n2', 'n3']);
  t.deepEqual(view.members.map((m) => [m.node, m.status, m.incarnation]), [['n1', 'valid', 1], ['n2', 'valid', 1], ['n3', 'valid', 1]]);
  t.is(view.ring.version, 0);
  t.deepEqual(view.vv, []);
  t.deepEqual(pendingChanges(view), []);
  t.is(claimantOf(view), 'n1');
  t.notThrows(() => new Ring(ownersOf(view)));
  t.true(isView(view));
  t.true(equalViews(view, initialView(['n1', 'n2', 'n3'], 64)), 'every node computes the same view');
  t.throws(() => initialView([], 8), { instanceOf: RangeError });
  t.throws(() => initialView(['a', 'a'], 8), { instanceOf: RangeError });
  t.throws(() => initialView(['a.b'], 8), { instanceOf: RangeError });
  t.throws(() => initialView(['a'], 12), { instanceOf: RangeError });
});

test('claimantOf - the lowest valid member believed up; with none up, the lowest valid one', (t) => {
  const view = initialView(['n1', 'n2', 'n3'], 64);
  t.is(claimantOf(view, (n) => n !== 'n1'), 'n2', 'a claimant that is down would leave every change staged');
  t.is(claimantOf(view, (n) => n === 'n3'), 'n3');
  t.is(claimantOf(view, () => false), 'n1');
  t.is(claimantOf(markDown(view, 'n1', 'n2'), () => false), 'n2', 'a down mark still counts when nobody is believed up');
});

test('join - staged as joining, committed by claim, valid after handover', (t) => {
  const v0 = initialView(['a', 'b', 'c'], 16);
  const staged = stageJoin(v0, 'd', 'b');
  t.is(statusOf(staged, 'd'), 'joining');
  t.deepEqual(ownersOf(staged), ownersOf(v0), 'staging moves nothing');
  t.deepEqual(pendingChanges(staged), [{ change: 'join', node: 'd' }]);
  t.throws(() => markValid(staged, 'd', 'd'), { instanceOf: DkvError, message: /not committed/ });

  const committed = commit(staged, 'a');
  t.deepEqual(ownersOf(committed), claim(ownersOf(v0), 'd'));
  t.deepEqual(committed.ring.nodes, ['a', 'b', 'c', 'd']);
  t.deepEqual(committed.ring.history, [{ version: 1, change: 'join', node: 'd' }]);
  t.is(committed.ring.committer, 'a');
  t.deepEqual(committed.vv, [['a', 1], ['b', 1]]);
  t.is(statusOf(committed, 'd'), 'joining', 'still joining until its partitions are handed over');
  const moved = transfers(v0, committed);
  t.is(moved.length, 4);
  t.true(moved.every((m) => m.to === 'd' && v0.ring.assignment[m.partition] === m.from));

  const valid = markValid(committed, 'd', 'd');
  t.is(statusOf(valid, 'd'), 'valid');
  t.is(markValid(valid, 'd', 'd'), valid, 'a retry changes nothing and does not tick the clock');
  t.is(stageJoin(valid, 'd', 'a'), valid, 'joining again while a member is a no-op');
  t.is(commit(valid, 'a'), valid, 'nothing pending, nothing committed');
});

test('leave - leaving, committed by release, exiting after handoff, removed; a rejoin is a new incarnation', (t) => {
  const v0 = initialView(['a', 'b', 'c', 'd'], 16);
  const staged = stageLeave(v0, 'b', 'b');
  t.is(statusOf(staged, 'b'), 'leaving');
  t.deepEqual(pendingChanges(staged), [{ change: 'leave', node: 'b' }]);
  t.throws(() => markExited(staged, 'b', 'b'), { instanceOf: DkvError, message: /not committed/ });

  const committed = commit(staged, claimantOf(staged)!);
  t.deepEqual(ownersOf(committed), release(ownersOf(v0), 'b'));
  t.deepEqual(committed.ring.nodes, ['a', 'c', 'd']);
  t.true(transfers(v0, committed).every((m) => m.from === 'b'));
  t.is(stageLeave(committed, 'b', 'a'), committed, 'leaving twice is a no-op');
  t.throws(() => stageJoin(committed, 'b', 'a'), { instanceOf: DkvError, message: /leaving/ });
  t.throws(() => markRemoved(committed, 'b', 'a'), { instanceOf: DkvError, message: /only an exiting/ });

  const removed = markRemoved(markExited(committed, 'b', 'b'), 'b', 'a');
  t.deepEqual(memberOf(removed, 'b'), { node: 'b', incarnation: 1, status: 'removed', downMarked: false, downVersion: 0 });
  t.true(isView(removed));

  const back = stageJoin(removed, 'b', 'a');
  t.deepEqual(memberOf(back, 'b'), { node: 'b', incarnation: 2, status: 'joining', downMarked: false, downVersion: 0 });
  t.true(equalViews(merge(back, removed), back), 'the new incarnation wins over the tombstone');
  const rejoined = commit(back, 'a');
  t.deepEqual(ownersOf(rejoined), claim(ownersOf(removed), 'b'));
  t.deepEqual(rejoined.ring.history.map((h) => [h.version, h.change, h.node]), [[1, 'leave', 'b'], [2, 'join', 'b']]);
});

test('bad requests - unknown node, bad name, the last member, a join while leaving', (t) => {
  const solo = initialView(['a'], 8);
  t.throws(() => stageLeave(solo, 'a', 'a'), { instanceOf: DkvError, message: /last member/ });
  t.throws(() => stageLeave(solo, 'zz', 'a'), { instanceOf: DkvError, message: /not a member/ });
  t.throws(() => stageJoin(solo, 'no.dots', 'a'), { instanceOf: DkvError, message: /node name/ });
  t.throws(() => markDown(solo, 'zz', 'a'), { instanceOf: DkvError });
  t.throws(() => commit(solo, 'bad actor'), { instanceOf: RangeError });
  // A leave and a join staged together: the join is committed first, so the ring never empties.
  const both = commit(stageLeave(stageJoin(solo, 'b', 'a'), 'a', 'a'), 'a');
  t.deepEqual(both.ring.nodes, ['b']);
  t.deepEqual(ownersOf(both), new Array(8).fill('b'));
  t.deepEqual(both.ring.history.map((h) => h.change), ['join', 'leave']);
});

test('concurrent leaves of the last two - one waits in the ring until a node joins', (t) => {
  const v0 = initialView(['a', 'b'], 8);
  const merged = merge(stageLeave(v0, 'a', 'a'), stageLeave(v0, 'b', 'b'));
  const committed = commit(merged, 'a');
  t.deepEqual(committed.ring.nodes, ['b'], 'a left; b, the last, stays');
  t.deepEqual(pendingChanges(committed), [{ change: 'leave', node: 'b' }]);
  t.is(commit(committed, 'a'), committed);
  const rescued = commit(stageJoin(committed, 'c', 'b'), 'b');
  t.deepEqual(rescued.ring.nodes, ['c']);
  t.true(isBalanced(rescued));
});

test('concurrent commits - one ring wins whole, the lost change is re-planned from member status', (t) => {
  const v0 = initialView(['a', 'b', 'c'], 16);
  // A partition: a and c each believe they are the claimant.
  const left = commit(stageJoin(v0, 'd', 'a'), 'a');
  const right = commit(stageLeave(v0, 'b', 'c'), 'c');
  t.is(left.ring.version, right.ring.version);
  const healed = merge(left, right);
  t.true(equalViews(healed, merge(right, left)));
  t.is(healed.ring.committer, 'c', 'same version: the committer decides, the same way everywhere');
  t.deepEqual(ownersOf(healed), ownersOf(right));
  t.is(statusOf(healed, 'd'), 'joining');
  t.is(statusOf(healed, 'b'), 'leaving');
  t.deepEqual(pendingChanges(healed), [{ change: 'join', node: 'd' }]);
  const replanned = commit(healed, claimantOf(healed)!);
  t.deepEqual(replanned.ring.nodes, ['a', 'c', 'd']);
  t.true(isBalanced(replanned));
  t.true(VV.descends(replanned.vv, left.vv) && VV.descends(replanned.vv, right.vv));
});

test('down mark - the node stays in the ring, is skipped as claimant, marks merge by counter', (t) => {
  const v0 = initialView(['a', 'b', 'c'], 16);
  const down = markDown(v0, 'a', 'b');
  t.true(memberOf(down, 'a')!.downMarked);
  t.is(claimantOf(down), 'b');
  t.deepEqual(ownersOf(down), ownersOf(v0));
  t.deepEqual(pendingChanges(down), [], 'down is not leave');
  const grown = joinNow(down, 'd', 'b');
  t.true(grown.ring.nodes.includes('a'));
  t.is(ownedBy(grown, 'a').length, 4);
  t.true(isBalanced(grown));

  const up = markUp(down, 'a', 'a');
  t.false(memberOf(up, 'a')!.downMarked);
  t.is(statusOf(up, 'a'), 'valid', 'clearing the mark gives back the lifecycle status');
  t.false(memberOf(merge(down, up), 'a')!.downMarked, 'the later mark wins');
  // A mark here, a mark and a clear there: the clear saw a mark, so it is the later change.
  const concurrent = merge(markDown(v0, 'a', 'b'), markUp(markDown(v0, 'a', 'c'), 'a', 'c'));
  t.false(memberOf(concurrent, 'a')!.downMarked);
  t.true(memberOf(merge(markDown(v0, 'a', 'b'), markDown(v0, 'a', 'c')), 'a')!.downMarked, 'two marks agree');
  t.is(markUp(v0, 'a', 'a'), v0, 'clearing an absent mark is a no-op');
  const allDown = markDown(markDown(markDown(v0, 'a', 'a'), 'b', 'a'), 'c', 'a');
  t.is(claimantOf(allDown), 'a', 'with every member marked down, the lowest ring node');
});

test('more nodes than partitions - idle nodes sit in the ring and take over a leaver', (t) => {
  const v0 = initialView(['a', 'b', 'c'], 2);
  t.deepEqual(v0.ring.nodes, ['a', 'b', 'c']);
  const idle = v0.ring.nodes.find((n) => ownedBy(v0, n).length === 0)!;
  const owner = v0.ring.assignment[0]!;
  const after = leaveNow(v0, owner, 'a');
  t.deepEqual(transfers(v0, after), [{ partition: 0, from: owner, to: idle }]);
  t.true(isBalanced(after));
});

test('history - bounded at HISTORY_MAX, most recent kept', (t) => {
  let view = initialView(['a', 'b'], 8);
  for (let i = 0; i < HISTORY_MAX / 2 + 5; i++) {
    view = joinNow(view, 'c', 'a');
    view = markRemoved(markExited(leaveNow(markValid(view, 'c', 'c'), 'c', 'a'), 'c', 'c'), 'c', 'a');
  }
  t.is(view.ring.history.length, HISTORY_MAX);
  t.is(view.ring.history.at(-1)!.version, view.ring.version);
  t.is(view.ring.version, HISTORY_MAX + 10);
  t.is(memberOf(view, 'c')!.incarnation, HISTORY_MAX / 2 + 5);
  t.true(isView(view));
});

test('decodeView - refuses bad input with a reason and drops unknown fields', (t) => {
  const view = stageJoin(initialView(['a', 'b'], 8), 'c', 'a');
  const wire = JSON.parse(JSON.stringify(view)) as Record<string, unknown>;
  t.true(equalViews(decodeView(wire), view));
  const padded = { ...wire, junk: 'x'.repeat(100), members: view.members.map((m) => ({ ...m, extra: 1 })) };
  t.false('junk' in decodeView(padded));
  t.false('extra' in decodeView(padded).members[0]!);

  const bad: [unknown, RegExp][] = [
    [null, /not an object/],
    [[], /not an object/],
    [{ ...wire, members: [] }, /members/],
    [{ ...wire, members: [...view.members].reverse() }, /sorted/],
    [{ ...wire, members: view.members.map((m) => ({ ...m, status: 'gone' })) }, /status/],
    [{ ...wire, members: view.members.map((m) => ({ ...m, incarnation: 0 })) }, /incarnation/],
    [{ ...wire, members: view.members.map((m) => ({ ...m, node: m.node + '.x' })) }, /member node/],
    [{ ...wire, members: view.members.map((m) => ({ ...m, downMarked: true })) }, /down mark/],
    [{ ...wire, ring: { ...view.ring, assignment: ['a', 'b', 'a'] } }, /valid Q/],
    [{ ...wire, ring: { ...view.ring, assignment: new Array(8).fill('c') } }, /not a ring node/],
    [{ ...wire, ring: { ...view.ring, nodes: ['a', 'b', 'zz'] } }, /not a member/],
    [{ ...wire, ring: { ...view.ring, nodes: ['a', 'b', 'b'] } }, /unique/],
    [{ ...wire, ring: { ...view.ring, version: -1 } }, /ring version/],
    [{ ...wire, ring: { ...view.ring, history: [{ version: 1, change: 'join', node: 'c' }] } }, /history/],
    [{ ...wire, vv: [['b', 1], ['a', 1]] }, /vv/],
  ];
  for (const [x, message] of bad) {
    t.false(isView(x));
    t.throws(() => decodeView(x), { instanceOf: DkvError, message }, JSON.stringify(x)?.slice(0, 80));
  }
  t.true(isChange({ kind: 'join', node: 'x' }));
  t.true(isChange({ kind: 'commit' }));
  t.false(isChange({ kind: 'join' }));
  t.false(isChange({ kind: 'explode', node: 'x' }));
});

// ---- properties ------------------------------------------------------------------------------

test('scenarios - the generator reaches the cases the laws are about (guards against vacuous properties)', (t) => {
  const runs = fc.sample(scenarioArb, { numRuns: 300, seed: 42 }).map((scenario) => run(scenario).snapshots);
  const share = (p: (v: View) => boolean): number => runs.filter((snaps) => snaps.some(p)).length / runs.length;
  const concurrentRings = runs.filter((snaps) => {
    const byVersion = new Map<number, Set<string>>();
    for (const v of snaps) byVersion.set(v.ring.version, (byVersion.get(v.ring.version) ?? new Set()).add(JSON.stringify(v.ring)));
    return [...byVersion.values()].some((rings) => rings.size > 1);
  }).length / runs.length;
  const reached = {
    ringChanged: share((v) => v.ring.version > 0),
    concurrentRings,
    exiting: share((v) => v.members.some((m) => m.status === 'exiting')),
    removed: share((v) => v.members.some((m) => m.status === 'removed')),
    rejoined: share((v) => v.members.some((m) => m.incarnation > 1)),
    downMarked: share((v) => v.members.some((m) => m.downMarked)),
    idleRingNode: share((v) => v.ring.nodes.some((n) => !v.ring.assignment.includes(n))),
  };
  t.log(reached);
  for (const [name, fraction] of Object.entries(reached)) t.true(fraction >= 0.05, `${name}: ${fraction}`);
});

test('property - merge is idempotent, commutative and associative on reachable views', (t) => {
  fc.assert(
    fc.property(scenarioArb, pickArb, (scenario, picks) => {
      const { snapshots } = run(scenario);
      for (const [i, j, k] of picks) {
        const a = pick(snapshots, i);
        const b = pick(snapshots, j);
        const c = pick(snapshots, k);
        if (!equalViews(merge(a, a), a)) return false;
        if (!equalViews(merge(a, b), merge(b, a))) return false;
        if (!equalViews(merge(merge(a, b), c), merge(a, merge(b, c)))) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

/**
 * Views a buggy peer could send: valid, but not reachable by the API. Rings of different content
 * share version and committer, and member entries are arbitrary, so every tiebreak is exercised.
 */
function forge(view: View, seed: number): View {
  const statuses = ['joining', 'valid', 'leaving', 'exiting', 'removed'] as const;
  return {
    members: view.members.map((m, i) => {
      const x = (seed >> (i % 16)) + i;
      const downVersion = x % 3;
      return { ...m, incarnation: 1 + (x % 2), status: statuses[x % 5]!, downVersion, downMarked: downVersion % 2 === 1 };
    }),
    ring: { ...view.ring, version: 1000, committer: 'a' },
    vv: view.vv,
  };
}

test('property - merge is lawful on any valid view, also forged ones that the API never makes', (t) => {
  fc.assert(
    fc.property(scenarioArb, pickArb, (scenario, picks) => {
      const { snapshots } = run(scenario);
      for (const [i, j, k] of picks) {
        const a = forge(pick(snapshots, i), j);
        const b = forge(pick(snapshots, j), k);
        const c = forge(pick(snapshots, k), i);
        if (!isView(a) || !isView(b) || !isView(c)) return false;
        if (!equalViews(merge(a, a), a)) return false;
        if (!equalViews(merge(a, b), merge(b, a))) return false;
        if (!equalViews(merge(merge(a, b), c), merge(a, merge(b, c)))) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - merge descends both clocks; a descending clock means a view already above', (t) => {
  fc.assert(
    fc.property(scenarioArb, pickArb, (scenario, picks) => {
      const { snapshots } = run(scenario);
      for (const [i, j] of picks) {
        const a = pick(snapshots, i);
        const b = pick(snapshots, j);
        const m = merge(a, b);
        if (!VV.descends(m.vv, a.vv) || !VV.descends(m.vv, b.vv)) return false;
        // The clock tells the views apart: descending clock, view above; equal clocks, equal views.
        if (VV.descends(a.vv, b.vv) && !equalViews(m, a)) return false;
        if (VV.equal(a.vv, b.vv) !== equalViews(a, b)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property - every reachable view is valid, balanced, JSON-safe, and a down mark never leaves the ring', (t) => {
  fc.assert(
    fc.property(scenarioArb, (scenario) => {
      const { snapshots } = run(scenario);
      for (const view of snapshots) {
        if (!isView(view) || !isBalanced(view)) return false;
        if (!equalViews(decodeView(JSON.parse(JSON.stringify(view))), view)) return false;
        for (const node of view.ring.nodes) if (memberOf(view, node) === undefined) return false;
      }
      // Down marks alone never change a ring.
      for (const view of snapshots) {
        let marked = view;
        for (const m of view.members) if (m.status !== 'removed') marked = markDown(marked, m.node, 'a');
        if (!equalViews({ ...marked, members: view.members, vv: view.vv }, view)) return false;
        // ...nor what a commit does with the changes pending.
        if (ownersOf(commit(marked, 'a')).join() !== ownersOf(commit(view, 'a')).join()) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - gossip converges whatever the order and grouping of merges', (t) => {
  fc.assert(
    fc.property(scenarioArb, fc.array(fc.nat(), { minLength: REPLICAS.length, maxLength: REPLICAS.length }), (scenario, keys) => {
      const { finals } = run(scenario);
      const order = finals.map((v, i) => ({ v, key: keys[i]! * 10 + i })).sort((x, y) => x.key - y.key).map((x) => x.v);
      const leftFold = finals.reduce((acc, v) => merge(acc, v));
      const shuffledRightFold = order.reduceRight((acc, v) => merge(v, acc));
      const pairwise = merge(merge(order[0]!, order[1]!), merge(order[2]!, order[3]!));
      return equalViews(leftFold, shuffledRightFold) && equalViews(leftFold, pairwise) && isBalanced(leftFold);
    }),
    { numRuns: 300 },
  );
  t.pass();
});

test('property - transfers lists exactly the partitions whose owner differs', (t) => {
  fc.assert(
    fc.property(scenarioArb, pickArb, (scenario, picks) => {
      const { snapshots } = run(scenario);
      for (const [i, j] of picks) {
        const a = pick(snapshots, i);
        const b = pick(snapshots, j);
        const moved = transfers(a, b);
        if (moved.map((m) => m.partition).join() !== changedPartitions(a, b).join()) return false;
        if (!moved.every((m) => a.ring.assignment[m.partition] === m.from && b.ring.assignment[m.partition] === m.to)) return false;
      }
      return true;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

const NAMES = Array.from({ length: 20 }, (_, i) => `n${i}`);
const qArb = fc.constantFrom(4, 8, 16, 64);

test('property - a join moves exactly what claim moves, to the joiner, and keeps balance', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 2, maxLength: 12 }), qArb, (ids, q) => {
      const [newcomer, ...list] = ids as [string, ...string[]];
      const before = initialView(list, q);
      const after = joinNow(before, newcomer, list[0]!);
      const moved = transfers(before, after);
      return (
        after.ring.nodes.includes(newcomer) &&
        ownersOf(after).join() === claim(ownersOf(before), newcomer).join() &&
        moved.length === Math.floor(q / (list.length + 1)) &&
        moved.every((m) => m.to === newcomer) &&
        isBalanced(after) &&
        statusOf(after, newcomer) === 'joining'
      );
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - a leave moves only the leaver\'s partitions and keeps balance', (t) => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.constantFrom(...NAMES), { minLength: 2, maxLength: 12 }), qArb, fc.nat(), (list, q, i) => {
      const leaver = pick(list, i);
      const before = initialView(list, q);
      const after = leaveNow(before, leaver, list[0]!);
      const moved = transfers(before, after);
      const sameAsRelease = list.length > q || ownersOf(after).join() === release(ownersOf(before), leaver).join();
      return (
        !after.ring.nodes.includes(leaver) &&
        moved.length === ownedBy(before, leaver).length &&
        moved.every((m) => m.from === leaver) &&
        sameAsRelease &&
        isBalanced(after)
      );
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - any sequence of joins and leaves at the claimant: balanced, minimal moves, down-marked nodes kept', (t) => {
  const stepArb = fc.record({ join: fc.boolean(), node: fc.constantFrom(...NAMES.slice(0, 10)), down: fc.boolean() });
  fc.assert(
    fc.property(qArb, fc.array(stepArb, { maxLength: 25 }), (q, steps) => {
      let view = initialView(['n0', 'n1'], q);
      for (const step of steps) {
        const before = view;
        const m = memberOf(view, step.node);
        if (step.down && m !== undefined && m.status !== 'removed') {
          view = markDown(view, step.node, 'n0');
          if (!equalViews({ ...view, members: before.members, vv: before.vv }, before)) return false;
          continue;
        }
        const s = before.ring.nodes.length;
        const wasIn = before.ring.nodes.includes(step.node);
        view = tryChange(view, { kind: step.join ? 'join' : 'leave', node: step.node }, 'n0');
        view = commit(view, claimantOf(view)!);
        // Settle the lifecycle (valid, or exited and removed) so the node can be picked again.
        for (let next = nextStep(view, step.node); next !== undefined; next = nextStep(view, step.node)) {
          view = applyChange(view, next, step.node);
        }
        const moved = transfers(before, view);
        if (!isBalanced(view)) return false;
        const nowIn = view.ring.nodes.includes(step.node);
        if (!wasIn && nowIn) {
          if (moved.length !== Math.floor(q / (s + 1)) || !moved.every((x) => x.to === step.node)) return false;
        } else if (wasIn && !nowIn) {
          if (!moved.every((x) => x.from === step.node)) return false;
        } else if (moved.length !== 0) {
          return false;
        }
        // Every member that has not left is in the ring, down-marked or not.
        for (const mm of view.members) {
          if (mm.status === 'valid' && !view.ring.nodes.includes(mm.node)) return false;
        }
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});
