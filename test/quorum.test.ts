import test from 'ava';
import fc from 'fast-check';
import { describe, quorum, record, verdict, type Quorum, type Verdict } from '../src/quorum.ts';

/** A quorum shape (total, needed) and a sequence of at most `total` replies (true = ok). */
const shapeArb = fc
  .integer({ min: 1, max: 12 })
  .chain((total) => fc.tuple(fc.constant(total), fc.integer({ min: 1, max: total })));
const runArb = shapeArb.chain(([total, needed]) =>
  fc.tuple(fc.constant(total), fc.constant(needed), fc.array(fc.boolean(), { maxLength: total })),
);

function fold(q: Quorum, replies: readonly boolean[]): Quorum[] {
  const states = [q];
  for (const ok of replies) states.push(record(states[states.length - 1]!, ok));
  return states;
}

/** The rule, spelled out independently of the implementation. */
function expected(total: number, needed: number, replies: readonly boolean[]): Verdict {
  const ok = replies.filter((r) => r).length;
  const outstanding = total - replies.length;
  if (ok >= needed) return 'met';
  if (ok + outstanding < needed) return 'failed';
  return 'waiting';
}

test('quorum - a fresh quorum is waiting, with nothing counted', (t) => {
  fc.assert(
    fc.property(shapeArb, ([total, needed]) => {
      const q = quorum(total, needed);
      t.deepEqual(q, { total, needed, ok: 0, failed: 0 });
      t.is(verdict(q), 'waiting');
    }),
  );
});

test('quorum - met iff ok >= needed; failed iff ok + outstanding < needed; waiting otherwise', (t) => {
  fc.assert(
    fc.property(runArb, ([total, needed, replies]) => {
      const states = fold(quorum(total, needed), replies);
      states.forEach((q, i) => {
        const seen = replies.slice(0, i);
        t.is(q.ok, seen.filter((r) => r).length);
        t.is(q.failed, seen.filter((r) => !r).length);
        t.true(q.ok + q.failed <= q.total);
        const outstanding = q.total - q.ok - q.failed;
        const v = verdict(q);
        t.is(v === 'met', q.ok >= q.needed);
        t.is(v === 'failed', q.ok + outstanding < q.needed);
        t.is(v, expected(total, needed, seen));
      });
    }),
  );
});

test('quorum - once met it stays met, once failed it stays failed, whatever replies follow', (t) => {
  fc.assert(
    fc.property(runArb, ([total, needed, replies]) => {
      const verdicts = fold(quorum(total, needed), replies).map(verdict);
      const first = verdicts.findIndex((v) => v !== 'waiting');
      if (first < 0) return;
      const decided = verdicts[first]!;
      for (const v of verdicts.slice(first)) t.is(v, decided);
    }),
  );
});

test('quorum - after every replica answered, the verdict is decided', (t) => {
  fc.assert(
    fc.property(shapeArb.chain(([total, needed]) => fc.tuple(fc.constant(total), fc.constant(needed), fc.array(fc.boolean(), { minLength: total, maxLength: total }))), ([total, needed, replies]) => {
      const last = fold(quorum(total, needed), replies).at(-1)!;
      t.not(verdict(last), 'waiting');
    }),
  );
});

test('quorum - record is pure: the input quorum is not changed', (t) => {
  fc.assert(
    fc.property(runArb, fc.boolean(), ([total, needed, replies], ok) => {
      fc.pre(replies.length < total);
      const q = fold(quorum(total, needed), replies).at(-1)!;
      const before = { ...q };
      record(q, ok);
      t.deepEqual(q, before);
    }),
  );
});

test('quorum - recording more replies than replicas asked throws', (t) => {
  fc.assert(
    fc.property(shapeArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 5 }), ([total, needed], extra) => {
      const full = fold(quorum(total, needed), Array.from({ length: total }, (_, i) => i % 2 === 0)).at(-1)!;
      for (const ok of extra) t.throws(() => record(full, ok), { instanceOf: RangeError, message: /answered twice/ });
    }),
  );
});

test('quorum - bad construction throws a RangeError', (t) => {
  const bad: Array<[number, number]> = [
    [3, 0],
    [3, -1],
    [3, 4],
    [0, 0],
    [0, 1],
    [3, 1.5],
    [2.5, 2],
    [Number.NaN, 1],
    [3, Number.NaN],
    [Number.POSITIVE_INFINITY, 1],
  ];
  for (const [total, needed] of bad) t.throws(() => quorum(total, needed), { instanceOf: RangeError }, `quorum(${total}, ${needed})`);
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }), (total, over) => {
      t.throws(() => quorum(total, total + over), { instanceOf: RangeError });
    }),
  );
});

test('quorum - describe says how many replied, out of how many, and how many were needed', (t) => {
  const q = record(record(record(quorum(3, 2), true), false), false);
  t.is(verdict(q), 'failed');
  t.is(describe(q, 'write'), '1 of 3 replicas acknowledged the write, 2 required (2 failed)');
});
