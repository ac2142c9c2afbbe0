import test from 'ava';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import {
  DEFAULT_Q,
  Q_MAX,
  Ring,
  assertValidQ,
  claim,
  initialAssignment,
  members,
  ownedCounts,
  partitionOf,
  preferenceList,
  preferenceListForKey,
  release,
  replicaPartitions,
} from '../src/ring.ts';

const N = 3;
const QS = [8, 16, 64, 256] as const;
const ALL_QS = Array.from({ length: 13 }, (_, i) => 2 ** i); // 1 .. 4096

const qArb = fc.constantFrom(...QS);
const nodeIdArb = fc.string({ minLength: 1, maxLength: 6 });
/** 1..16 distinct member IDs, in join order. */
const memberListArb = fc.uniqueArray(nodeIdArb, { minLength: 1, maxLength: 16 });
/** Members plus one newcomer that is not among them. */
const membersAndNewcomerArb = fc
  .uniqueArray(nodeIdArb, { minLength: 2, maxLength: 17 })
  .map((ids) => ({ list: ids.slice(0, -1), newcomer: ids[ids.length - 1]! }));

function countOf(assignment: readonly string[], node: string): number {
  return ownedCounts(assignment).get(node) ?? 0;
}

/** Every node of `memberList` owns floor or ceil of Q/S partitions, and nobody else owns any. */
function isBalanced(assignment: readonly string[], memberList: readonly string[]): boolean {
  const q = assignment.length;
  const shareFloor = Math.floor(q / memberList.length);
  const shareCeil = Math.ceil(q / memberList.length);
  if (!assignment.every((owner) => memberList.includes(owner))) return false;
  return memberList.every((m) => {
    const count = countOf(assignment, m);
    return count === shareFloor || count === shareCeil;
  });
}

function changedPartitions(before: readonly string[], after: readonly string[]): number[] {
  return before.flatMap((owner, p) => (after[p] === owner ? [] : [p]));
}

// ---- concrete values -------------------------------------------------------------------------

test('partitionOf - top bits of md5, checked against known digests', (t) => {
  t.is(DEFAULT_Q, 64);
  // md5('') = d41d8cd98f00b204e9800998ecf8427e
  t.is(partitionOf('', 256), 0xd4);
  t.is(partitionOf('', 64), 0xd4 >> 2);
  t.is(partitionOf('', 4096), 0xd41);
  t.is(partitionOf('', 1), 0);
  // md5('hello') = 5d41402abc4b2a76b9719d911017c592
  t.is(partitionOf('hello', 64), 0x5d >> 2);
  t.is(partitionOf('hello', 2), 0);
});

test('Q validation - powers of two in [1, 4096] only', (t) => {
  for (const q of ALL_QS) t.notThrows(() => assertValidQ(q));
  for (const bad of [0, -64, 3, 48, 63.5, 8192, Number.NaN, Infinity]) {
    t.throws(() => assertValidQ(bad), { instanceOf: RangeError });
    t.throws(() => partitionOf('k', bad), { instanceOf: RangeError });
    t.throws(() => initialAssignment(['a'], bad), { instanceOf: RangeError });
  }
  t.is(Q_MAX, 4096);
  t.throws(() => preferenceList(['a', 'b', 'c'], 0), { instanceOf: RangeError });
});

test('initialAssignment - three nodes at Q=64 own 22/21/21, the first walks only', (t) => {
  const assignment = initialAssignment(['n1', 'n2', 'n3'], 64);
  t.deepEqual(ownedCounts(assignment), new Map([['n3', 21], ['n2', 22], ['n1', 21]]));
  t.deepEqual(members(assignment), ['n3', 'n2', 'n1']);
  let distinctFirstN = 0;
  for (let p = 0; p < 64; p++) {
    const list = preferenceList(assignment, p);
    t.is(list[0], assignment[p]);
    t.deepEqual([...list].sort(), ['n1', 'n2', 'n3']);
    if (new Set(list.slice(0, N)).size === N) distinctFirstN++;
  }
  t.is(distinctFirstN, 64);
});

test('initialAssignment - exact result is pinned: every node must compute the same ring', (t) => {
  // A change here changes the ring of every deployed cluster (and splits mixed-version ones):
  // change this expectation only together with a ring migration.
  t.deepEqual(
    initialAssignment(['a', 'b', 'c', 'd', 'e'], 16),
    ['e', 'c', 'd', 'e', 'b', 'c', 'd', 'e', 'c', 'b', 'a', 'c', 'b', 'd', 'a', 'a'],
  );
  t.deepEqual(initialAssignment(['solo'], 8), new Array(8).fill('solo'));
});

test('claim and release - misuse is refused', (t) => {
  const assignment = initialAssignment(['a', 'b'], 8);
  t.throws(() => claim(assignment, 'a'), { message: /already owns/ });
  t.throws(() => release(new Array(8).fill('a'), 'a'), { message: /only owner/ });
  t.throws(() => initialAssignment([], 8), { instanceOf: RangeError });
  t.throws(() => initialAssignment(['a', 'a'], 8), { instanceOf: RangeError });
  t.deepEqual(release(assignment, 'stranger'), assignment, 'a node owning nothing hands over nothing');
});

test('claim - a newcomer beyond Q members gets a zero share and stays absent', (t) => {
  const full = initialAssignment(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], 8);
  t.deepEqual(claim(full, 'i'), full);
});

test('replica load - each node replicates about 3Q/S partitions (neighbour preference at work)', (t) => {
  for (const [q, deviationMax] of [[64, 0.25], [256, 0.1]] as const) {
    for (let s = N; s <= 16; s++) {
      const ids = Array.from({ length: s }, (_, i) => `n${i}`);
      const ring = new Ring(initialAssignment(ids, q));
      const fair = (N * q) / s;
      for (const id of ids) {
        const load = ring.replicaPartitions(id, N).length;
        t.true(Math.abs(load - fair) <= deviationMax * fair, `Q=${q} S=${s} ${id}: ${load} vs fair ${fair}`);
      }
    }
  }
});

test('partitionOf - 20k keys spread within 0.7x..1.3x of the fair share at Q=64', (t) => {
  const keyCount = 20_000;
  const hits = new Array<number>(64).fill(0);
  for (let i = 0; i < keyCount; i++) hits[partitionOf(`user:${i}`, 64)]!++;
  const fair = keyCount / 64;
  for (const [p, h] of hits.entries()) t.true(h >= 0.7 * fair && h <= 1.3 * fair, `partition ${p}: ${h} keys`);
});

// ---- properties ------------------------------------------------------------------------------

test('property - balance: every member owns floor or ceil of Q/S', (t) => {
  fc.assert(
    fc.property(memberListArb, qArb, (list, q) => {
      const assignment = initialAssignment(list, q);
      return assignment.length === q && isBalanced(assignment, list);
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - determinism: same member list, same ring; same claim, same result', (t) => {
  fc.assert(
    fc.property(membersAndNewcomerArb, qArb, ({ list, newcomer }, q) => {
      const a = initialAssignment(list, q);
      const b = initialAssignment([...list], q);
      t.deepEqual(a, b);
      t.deepEqual(claim(a, newcomer), claim(b, newcomer));
      if (members(a).length > 1) t.deepEqual(release(a, list[0]!), release(b, list[0]!));
    }),
    { numRuns: 100 },
  );
});

test('property - preference list holds every member exactly once, starting at the owner', (t) => {
  fc.assert(
    fc.property(memberListArb, qArb, (list, q) => {
      const assignment = initialAssignment(list, q);
      const owners = members(assignment);
      for (let p = 0; p < q; p++) {
        const pref = preferenceList(assignment, p);
        if (pref[0] !== assignment[p]) return false;
        if (new Set(pref).size !== pref.length) return false;
        if (pref.length !== owners.length || !owners.every((o) => pref.includes(o))) return false;
        if (owners.length >= N && new Set(pref.slice(0, N)).size !== N) return false;
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property - claim moves exactly floor(Q/(S+1)) partitions, all to the newcomer', (t) => {
  fc.assert(
    fc.property(membersAndNewcomerArb, qArb, ({ list, newcomer }, q) => {
      const before = initialAssignment(list, q);
      const after = claim(before, newcomer);
      const moved = changedPartitions(before, after);
      return (
        moved.every((p) => after[p] === newcomer) &&
        moved.length === Math.floor(q / (list.length + 1)) &&
        isBalanced(after, [...list, newcomer])
      );
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - release moves only the leaver\'s partitions and keeps balance', (t) => {
  fc.assert(
    fc.property(
      fc.uniqueArray(nodeIdArb, { minLength: 2, maxLength: 16 }),
      qArb,
      fc.nat(),
      (list, q, pick) => {
        const before = initialAssignment(list, q);
        // With S > Q some members own nothing and are invisible to the ring, so balance is
        // judged over the owners the assignment shows.
        const owners = members(before);
        const leaver = owners[pick % owners.length]!;
        const after = release(before, leaver);
        const moved = changedPartitions(before, after);
        const ownedByLeaver = before.flatMap((o, p) => (o === leaver ? [p] : []));
        return (
          !after.includes(leaver) &&
          JSON.stringify(moved) === JSON.stringify(ownedByLeaver) &&
          isBalanced(after, owners.filter((o) => o !== leaver))
        );
      },
    ),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - any sequence of joins and leaves stays balanced and moves only what it must', (t) => {
  const stepArb = fc.oneof(fc.record({ join: nodeIdArb }), fc.record({ leave: fc.nat() }));
  fc.assert(
    fc.property(qArb, fc.array(stepArb, { maxLength: 20 }), (q, steps) => {
      let assignment = initialAssignment(['seed'], q);
      let owners = ['seed'];
      for (const step of steps) {
        const before = assignment;
        if ('join' in step) {
          if (owners.includes(step.join) || owners.length >= q) continue;
          assignment = claim(before, step.join);
          owners = [...owners, step.join];
          if (!changedPartitions(before, assignment).every((p) => assignment[p] === step.join)) return false;
        } else {
          if (owners.length === 1) continue;
          const leaver = owners[step.leave % owners.length]!;
          assignment = release(before, leaver);
          owners = owners.filter((o) => o !== leaver);
          if (!changedPartitions(before, assignment).every((p) => before[p] === leaver)) return false;
        }
        if (!isBalanced(assignment, owners)) return false;
      }
      return true;
    }),
    { numRuns: 150 },
  );
  t.pass();
});

test('property - partitionOf is in range, stable, and refines as Q doubles', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 64 }), fc.constantFrom(...ALL_QS), (key, q) => {
      const p = partitionOf(key, q);
      const inRange = Number.isInteger(p) && p >= 0 && p < q;
      // Partition p at Q splits into 2p and 2p+1 at 2Q: the ranges nest.
      const nests = q === Q_MAX || partitionOf(key, q * 2) >> 1 === p;
      return inRange && p === partitionOf(key, q) && nests;
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('property - keys under any prefix spread within 0.7x..1.3x of the fair share', (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 12 }), (prefix) => {
      const keyCount = 20_000;
      const hits = new Array<number>(64).fill(0);
      for (let i = 0; i < keyCount; i++) hits[partitionOf(`${prefix}${i}`, 64)]!++;
      const fair = keyCount / 64;
      return hits.every((h) => h >= 0.7 * fair && h <= 1.3 * fair);
    }),
    { numRuns: 10 },
  );
  t.pass();
});

test('property - replicaPartitions and Ring agree with preferenceList', (t) => {
  fc.assert(
    fc.property(memberListArb, qArb, fc.integer({ min: 1, max: 4 }), (list, q, n) => {
      const assignment = initialAssignment(list, q);
      const ring = new Ring(assignment);
      const owners = members(assignment);
      t.is(ring.q, q);
      t.deepEqual(ring.members(), owners);
      t.deepEqual(ring.assignment, assignment);
      let replicaSlots = 0;
      for (const node of owners) {
        const expected = [...Array(q).keys()].filter((p) => preferenceList(assignment, p).slice(0, n).includes(node));
        t.deepEqual(replicaPartitions(assignment, node, n), expected);
        t.deepEqual(ring.replicaPartitions(node, n), expected);
        replicaSlots += expected.length;
      }
      // Each partition has min(n, owners) replicas, so the slots add up exactly.
      t.is(replicaSlots, q * Math.min(n, owners.length));
      for (let p = 0; p < q; p++) {
        t.deepEqual(ring.preferenceList(p), preferenceList(assignment, p));
        t.deepEqual(ring.replicas(p, n), preferenceList(assignment, p).slice(0, n));
      }
      const key = `k${q}${n}`;
      t.is(ring.partitionOf(key), partitionOf(key, q));
      t.deepEqual(preferenceListForKey(assignment, key), ring.preferenceList(ring.partitionOf(key)));
    }),
    { numRuns: 100 },
  );
});

test('ring - a key partition is the top bits of its MD5, asked once or again, past the cache of recent keys', (t) => {
  const ring = new Ring(Array.from({ length: 64 }, (_, i) => `n${(i % 3) + 1}`));
  const keys = Array.from({ length: 40_000 }, (_, i) => `key ${i} ${'é'.repeat(i % 3)}`);
  let wrong = 0;
  for (let round = 0; round < 2; round++) {
    for (const key of keys) if (ring.partitionOf(key) !== createHash('md5').update(key, 'utf8').digest().readUInt16BE(0) >>> 10) wrong++;
  }
  t.is(wrong, 0);
});
