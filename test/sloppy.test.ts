import test from 'ava';
import fc from 'fast-check';
import { plan, replacement } from '../src/sloppy.ts';

const NODE_IDS: readonly string[] = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6', 'n7', 'n8'];

/** A preference list (a permutation of 3..8 node IDs), N in 1..length, and which nodes are up. */
const caseArb = fc
  .integer({ min: 3, max: NODE_IDS.length })
  .chain((size) =>
    fc.record({
      preferenceList: fc.shuffledSubarray([...NODE_IDS], { minLength: size, maxLength: size }),
      n: fc.integer({ min: 1, max: size }),
      upFlags: fc.array(fc.boolean(), { minLength: size, maxLength: size }),
    }),
  )
  .map(({ preferenceList, n, upFlags }) => ({ preferenceList, n, up: new Set(preferenceList.filter((_, i) => upFlags[i])) }));

/** As above, plus what a coordinator has asked so far: a failed target and the hints it carried. */
const replacementCaseArb = caseArb.chain((c) =>
  fc
    .record({
      askedFlags: fc.array(fc.boolean(), { minLength: c.preferenceList.length, maxLength: c.preferenceList.length }),
      failedIndex: fc.nat({ max: c.preferenceList.length - 1 }),
      failedHints: fc.subarray(c.preferenceList.slice(0, c.n)),
    })
    .map(({ askedFlags, failedIndex, failedHints }) => {
      const failed = c.preferenceList[failedIndex]!;
      const asked = new Set([failed, ...c.preferenceList.filter((_, i) => askedFlags[i])]);
      return { ...c, asked, failed, failedHints: failedHints.filter((o) => o !== failed) };
    }),
);

const isUpIn = (up: ReadonlySet<string>) => (node: string) => up.has(node);

/** Hints as a plain object, for readable deepEqual failures. */
function hintsOf(p: ReturnType<typeof plan>): Record<string, readonly string[]> {
  return Object.fromEntries(p.hints);
}

test('sloppy - with every node up, the targets are the first N and there are no hints', (t) => {
  const p = plan(['a', 'b', 'c', 'd', 'e'], 3, () => true);
  t.deepEqual(p.targets, ['a', 'b', 'c']);
  t.is(p.hints.size, 0);
});

test('sloppy - a down owner is replaced by the next reachable node, which keeps its hint', (t) => {
  const p = plan(['a', 'b', 'c', 'd', 'e'], 3, (x) => x !== 'b');
  t.deepEqual(p.targets, ['a', 'c', 'd']);
  t.deepEqual(hintsOf(p), { d: ['b'] });
});

test('sloppy - several down owners are spread over the stand-ins', (t) => {
  const p = plan(['a', 'b', 'c', 'd', 'e'], 3, (x) => x === 'd' || x === 'e');
  t.deepEqual(p.targets, ['d', 'e', 'a'], 'two reachable, then the first down node to fill up to N');
  t.deepEqual(hintsOf(p), { d: ['a', 'c'], e: ['b'] });
});

test('sloppy - in a partition with no stand-in, the reachable owners keep the hints', (t) => {
  const p = plan(['a', 'b', 'c', 'd', 'e'], 3, (x) => x === 'a');
  t.deepEqual(p.targets, ['a', 'b', 'c']);
  t.deepEqual(hintsOf(p), { a: ['b', 'c'] });
});

test('sloppy - with nobody reachable, the owners are asked and nobody keeps hints', (t) => {
  const p = plan(['a', 'b', 'c', 'd'], 3, () => false);
  t.deepEqual(p.targets, ['a', 'b', 'c']);
  t.is(p.hints.size, 0);
});

test('sloppy - plan properties over random preference lists and up-sets', (t) => {
  fc.assert(
    fc.property(caseArb, ({ preferenceList, n, up }) => {
      const where = `list ${preferenceList.join(',')} n ${n} up ${[...up].join(',')}`;
      const p = plan(preferenceList, n, isUpIn(up));
      const owners = preferenceList.slice(0, n);
      const reachable = preferenceList.filter((x) => up.has(x)).slice(0, n);
      const downOwners = owners.filter((o) => !up.has(o));

      // Distinct, at most N (and exactly N, since the list is at least N long).
      t.is(new Set(p.targets).size, p.targets.length, where);
      t.true(p.targets.length <= n, where);
      t.is(p.targets.length, n, where);

      // The first N reachable in preference order come first ...
      t.deepEqual(p.targets.slice(0, reachable.length), reachable, where);
      // ... then down nodes, in preference order, only to fill up to N.
      const fill = p.targets.slice(reachable.length);
      t.true(fill.every((x) => !up.has(x)), where);
      t.deepEqual(fill, preferenceList.filter((x) => !up.has(x)).slice(0, n - reachable.length), where);
      if (reachable.length === n) t.is(fill.length, 0, where);

      if (up.size === preferenceList.length) {
        t.deepEqual(p.targets, owners, where);
        t.is(p.hints.size, 0, where);
      }

      // Every down owner gets exactly one hint on exactly one keeper; nothing else is hinted.
      const hinted = [...p.hints.values()].flat();
      if (reachable.length === 0) t.is(p.hints.size, 0, where);
      else t.deepEqual([...hinted].sort(), [...downOwners].sort(), where);

      // Keepers are reachable targets: stand-ins when there are any, otherwise reachable owners.
      const standIns = reachable.filter((x) => !owners.includes(x));
      for (const [keeper, forOwners] of p.hints) {
        t.true(forOwners.length > 0, where);
        t.true(reachable.includes(keeper), where);
        t.false(forOwners.includes(keeper), where);
        if (standIns.length > 0) t.true(standIns.includes(keeper), `${where}: ${keeper} is not a stand-in`);
        else t.true(owners.includes(keeper), where);
      }
    }),
  );
});

test('sloppy - replacement picks the first reachable node not asked yet and carries the hints', (t) => {
  // d stood in for b, then did not answer: e takes over d's hint; d is no owner, so no hint for d.
  const r = replacement(['a', 'b', 'c', 'd', 'e'], 3, new Set(['a', 'c', 'd']), 'd', ['b'], (x) => x !== 'b');
  t.deepEqual(r, { node: 'e', hints: ['b'] });
});

test('sloppy - a failed owner gets a hint on its replacement', (t) => {
  const r = replacement(['a', 'b', 'c', 'd', 'e'], 3, new Set(['a', 'b', 'c']), 'b', [], () => true);
  t.deepEqual(r, { node: 'd', hints: ['b'] });
});

test('sloppy - a replacement never keeps a hint for itself', (t) => {
  // d carried a hint for b; b is back up and not asked yet, so b is the replacement and needs no hint.
  const r = replacement(['a', 'b', 'c', 'd', 'e'], 3, new Set(['a', 'c', 'd']), 'd', ['b'], () => true);
  t.deepEqual(r, { node: 'b', hints: [] });
});

test('sloppy - with no reachable node left, a node believed down is tried (the view may be stale)', (t) => {
  t.deepEqual(replacement(['a', 'b', 'c', 'd'], 3, new Set(['a', 'b', 'c']), 'c', [], (x) => x !== 'd'), { node: 'd', hints: ['c'] });
});

test('sloppy - no replacement when every node is asked', (t) => {
  t.is(replacement(['a', 'b', 'c'], 3, new Set(['a', 'b', 'c']), 'a', ['b'], () => true), undefined);
});

test('sloppy - replacement properties over random cases', (t) => {
  fc.assert(
    fc.property(replacementCaseArb, ({ preferenceList, n, up, asked, failed, failedHints }) => {
      const where = `list ${preferenceList.join(',')} n ${n} up ${[...up].join(',')} asked ${[...asked].join(',')} failed ${failed} hints ${failedHints.join(',')}`;
      const r = replacement(preferenceList, n, asked, failed, failedHints, isUpIn(up));
      const notAsked = preferenceList.filter((x) => !asked.has(x));
      const reachable = notAsked.filter((x) => up.has(x));
      const candidates = reachable.length > 0 ? reachable : notAsked;
      if (candidates.length === 0) {
        t.is(r, undefined, where);
        return;
      }
      t.not(r, undefined, where);
      const { node, hints } = r!;
      t.is(node, candidates[0]!, where);
      if (reachable.length > 0) t.true(up.has(node), where);
      t.false(asked.has(node), where);
      t.false(hints.includes(node), where);
      const isOwner = preferenceList.slice(0, n).includes(failed);
      const expected = [...failedHints, ...(isOwner ? [failed] : [])].filter((o) => o !== node);
      t.deepEqual(hints, expected, where);
    }),
  );
});
