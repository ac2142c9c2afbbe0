import test from 'ava';
import { coordinateWrite, mergeReplica, needsRepair, readDigest, sameDigest, type StoredClock } from '../src/replica.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const T = 1_700_000_000_000;

test('read digest - equal version sets digest alike, also when built on different replicas', (t) => {
  const a = coordinateWrite(undefined, undefined, bytes('v1'), 'n1.x', T);
  const copy = mergeReplica(undefined, a);
  t.true(sameDigest(readDigest('k', a), readDigest('k', copy)));
  t.true(sameDigest(readDigest('k', null), readDigest('k', null)));
});

test('read digest - a new version, a sibling, a tombstone or another key digests differently', (t) => {
  const a = coordinateWrite(undefined, undefined, bytes('v1'), 'n1.x', T);
  const next = coordinateWrite(a, undefined, bytes('v2'), 'n1.x', T + 1);
  const sibling = mergeReplica(a, coordinateWrite(undefined, undefined, bytes('other'), 'n2.y', T));
  const tomb = coordinateWrite(a, undefined, null, 'n1.x', T + 2);
  const d = readDigest('k', a);
  for (const other of [next, sibling, tomb]) t.false(sameDigest(d, readDigest('k', other)));
  t.false(sameDigest(d, readDigest('k', null)));
  t.false(sameDigest(d, readDigest('k2', a)));
});

test('read digest - undotted values are never digested, and malformed digests never match', (t) => {
  const anonymous: StoredClock = { e: [], a: [bytes('x')] };
  t.is(readDigest('k', anonymous), undefined);
  t.false(sameDigest(undefined, readDigest('k', null)));
  const d = readDigest('k', null)!;
  for (const bad of [undefined, null, 'x', [d[0]], [d[0], d[1], 0], [String(d[0]), d[1]], { 0: d[0], 1: d[1], length: 2 }]) t.false(sameDigest(d, bad), JSON.stringify(bad));
  t.true(sameDigest(d, [d[0], d[1]]));
});

test('read repair - an owner is repaired when it lacks a settled version, not when it agrees or lacks only recent ones', (t) => {
  const old = coordinateWrite(undefined, undefined, bytes('v1'), 'n1.x', T);
  const newer = coordinateWrite(old, undefined, bytes('v2'), 'n1.x', T + 10);
  t.false(needsRepair(newer, newer, T + 1_000), 'agrees');
  t.false(needsRepair(mergeReplica(undefined, newer), newer, T + 1_000), 'agrees, as a copy built elsewhere');
  t.true(needsRepair(old, newer, T + 1_000), 'lacks a version made before the settle time');
  t.true(needsRepair(null, newer, T + 1_000), 'has nothing');
  t.false(needsRepair(old, newer, T + 5), 'lacks only a version made since the settle time');
  t.false(needsRepair(null, newer, T - 1), 'lacks only versions made since the settle time');
});
