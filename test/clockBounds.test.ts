import test from 'ava';
import fc from 'fast-check';
import { boundClock, contextOf, isStandInId, standInActorId, STAND_IN_ENTRIES_IDLE_MAX } from '../src/clockBounds.ts';
import { CONTEXT_ENTRIES_MAX, decodeContext, encodeContext, isContextId } from '../src/context.ts';
import { emptyClock, isClock, join, newClock, sync, update, values, type Clock, type Entry } from '../src/dvvset.ts';
import { bytesOf, clampContext, coordinateWrite, isStoredValue, mergeReplica, readContext, reconcile, type StoredClock } from '../src/replica.ts';

const enc = new TextEncoder();
const idArb = fc.oneof(
  fc.stringMatching(/^[!#-[\]-~]{1,64}$/),
  fc.constantFrom('n1.abc1234', 'n2.def5678', 'n3~a1b2c3/1', 'n3~a1b2c3/2', 'n4~ffffff/zz'),
  // Ids a stored clock may hold but a context cannot carry (a store is not the wire).
  fc.constantFrom('has space', 'x'.repeat(65), 'quote"d'),
);
const entryArb: fc.Arbitrary<Entry<Uint8Array | null>> = fc
  .tuple(idArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), fc.nat({ max: 3 }), fc.nat({ max: 2_000_000_000_000 }))
  .map(([id, n, held, t]) => [id, n, Array.from({ length: Math.min(held, n) }, (_, i) => (i % 2 ? null : enc.encode(`${id}:${n - i}`))), t]);
/** Any clock a store can hold: up to 200 entries, any ids, counters up to the safe maximum. */
const clockArb: fc.Arbitrary<StoredClock> = fc
  .uniqueArray(entryArb, { selector: (e) => e[0], maxLength: 200 })
  .map((es) => ({ e: es.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0)), a: [] }));

test('clockBounds - any clock the store can hold encodes into a context, and that context is accepted back', (t) => {
  fc.assert(
    fc.property(clockArb, (clock) => {
      t.true(isClock(clock, isStoredValue));
      const s = readContext(clock);
      const back = decodeContext(s);
      t.deepEqual(back, contextOf(clock));
      t.true(back.length <= CONTEXT_ENTRIES_MAX);
      // It names nothing the clock does not hold, at the clock's counters: it can only under-report.
      for (const [id, n] of back) t.is(clock.e.find((e) => e[0] === id)?.[1], n);
      // Within the bounds it is the whole history.
      if (clock.e.length <= CONTEXT_ENTRIES_MAX && clock.e.every((e) => isContextId(e[0]))) t.deepEqual(back, join(clock));
    }),
    { numRuns: 300 },
  );
});

test('clockBounds - a context over the bound leaves out value-less entries before entries with values', (t) => {
  const e: Entry<Uint8Array | null>[] = [];
  for (let i = 0; i < 100; i++) e.push([`n${String(i).padStart(3, '0')}`, 5, i < 10 ? [enc.encode(`v${i}`)] : [], i]);
  const vv = contextOf({ e, a: [] });
  t.is(vv.length, CONTEXT_ENTRIES_MAX);
  for (let i = 0; i < 10; i++) t.truthy(vv.find(([id]) => id === `n00${i}`), `entry with a value n00${i} kept`);
  // The oldest value-less ones went first.
  t.falsy(vv.find(([id]) => id === 'n010'));
  t.truthy(vv.find(([id]) => id === 'n099'));
  t.notThrows(() => encodeContext(vv));
});

test('clockBounds - boundClock never drops a value nor an owner entry, and keeps at most the allowance of idle stand-in entries', (t) => {
  fc.assert(
    fc.property(clockArb, (clock) => {
      const b = boundClock(clock);
      t.deepEqual(values(b), values(clock));
      for (const e of clock.e) if (e[2].length > 0 || !isStandInId(e[0])) t.truthy(b.e.find((x) => x[0] === e[0]), e[0]);
      t.true(b.e.filter((e) => e[2].length === 0 && isStandInId(e[0])).length <= STAND_IN_ENTRIES_IDLE_MAX);
      t.deepEqual(boundClock(b), b, 'idempotent');
      t.true(isClock(b, isStoredValue));
    }),
    { numRuns: 300 },
  );
});

test('clockBounds - stand-in writes of one epoch add one entry, however many there are', (t) => {
  const actor = standInActorId('n4~abc123', 1);
  let clock: StoredClock | undefined;
  for (let i = 0; i < 500; i++) clock = coordinateWrite(clock, clock ? join(clock) : undefined, enc.encode(`v${i}`), actor, 1_000 + i);
  t.is(clock!.e.length, 1);
  t.deepEqual(clock!.e[0]!.slice(0, 2), [actor, 500]);
  t.is(values(clock!).length, 1);
});

test('clockBounds - a new epoch per write (the worst case) stays within the owners plus the allowance, and loses no write', (t) => {
  // Two owners and a stand-in whose epoch moves at every write, interleaved; each write reads first.
  let clock: StoredClock | undefined;
  for (let i = 0; i < 300; i++) {
    const actor = i % 3 === 0 ? 'n1.aaaaaaa' : i % 3 === 1 ? 'n2.bbbbbbb' : standInActorId('n5~cccccc', i);
    clock = coordinateWrite(clock, clock ? contextOf(clock) : undefined, enc.encode(`v${i}`), actor, 10_000 + i);
    t.true(clock.e.length <= 2 + 1 + STAND_IN_ENTRIES_IDLE_MAX, `after write ${i}: ${clock.e.length} entries`);
    t.deepEqual(values(clock).map((v) => new TextDecoder().decode(bytesOf(v)!)), [`v${i}`]);
  }
});

test('clockBounds - replicas that bound their clocks converge, and hold every value the unbounded clocks hold (only siblings can be added)', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat({ max: 2 }), fc.nat({ max: 40 }), fc.boolean()), { minLength: 1, maxLength: 60 }), (script) => {
      // Three replicas; each step a stand-in epoch writes (reading its replica first) on one of
      // them, or two replicas exchange. The model runs the same writes with the same contexts on
      // clocks that are never bounded.
      const bounded: Array<StoredClock | undefined> = [undefined, undefined, undefined];
      const model: Array<StoredClock | undefined> = [undefined, undefined, undefined];
      // Each stand-in epoch keeps a record of its own entry, as actors/handoff.ts does: it writes
      // on the replica's clock merged with that record, so its counter never goes back.
      const records = new Map<string, StoredClock>();
      const modelRecords = new Map<string, StoredClock>();
      const own = (c: StoredClock, id: string): StoredClock => ({ e: c.e.filter((e) => e[0] === id), a: [] });
      script.forEach(([r, epoch, exchange], i) => {
        const other = (r + 1) % 3;
        if (exchange) {
          if (bounded[r] && bounded[other]) bounded[r] = bounded[other] = mergeReplica(bounded[r]!, bounded[other]!);
          if (model[r] && model[other]) model[r] = model[other] = sync(model[r]!, model[other]!);
          return;
        }
        const context = bounded[r] ? contextOf(bounded[r]!) : undefined;
        const value = enc.encode(`w${i}`);
        const actor = standInActorId('s~000000', epoch + 1);
        const record = records.get(actor);
        const base = bounded[r] && record ? sync(bounded[r]!, record) : (bounded[r] ?? record);
        bounded[r] = coordinateWrite(base, context, value, actor, i);
        records.set(actor, own(bounded[r]!, actor));
        const modelRecord = modelRecords.get(actor);
        const modelBase = model[r] && modelRecord ? sync(model[r]!, modelRecord) : (model[r] ?? modelRecord);
        model[r] = update(newClock(context ?? [], value), modelBase ?? emptyClock<Uint8Array | null>(), actor, i);
        modelRecords.set(actor, own(model[r]!, actor));
      });
      // Exchanges until nothing changes: every replica ends with the same version set.
      const live = bounded.map((c) => c ?? emptyClock<Uint8Array | null>());
      for (let round = 0; round < 10; round++) for (let x = 0; x < 3; x++) for (let y = 0; y < 3; y++) if (x !== y) live[x] = live[y] = mergeReplica(live[x]!, live[y]!);
      t.deepEqual(live[1], live[0]);
      t.deepEqual(live[2], live[0]);
      const modelFinal = model.filter((c): c is StoredClock => c !== undefined).reduce((acc, c) => sync(acc, c), emptyClock<Uint8Array | null>());
      const have = new Set(values(live[0]!).map((v) => new TextDecoder().decode(bytesOf(v)!)));
      for (const v of values(modelFinal)) t.true(have.has(new TextDecoder().decode(bytesOf(v)!)), 'a value the unbounded clocks keep is kept');
    }),
    { numRuns: 200 },
  );
});

test('clockBounds - standInActorId fits a context id and is recognised; node identities are not', (t) => {
  const id = standInActorId(`${'x'.repeat(48)}~abcdef`, 36 ** 7 - 1);
  t.true(isContextId(id));
  t.true(isStandInId(id));
  t.false(isStandInId('n1.abc1234'));
  t.throws(() => standInActorId('n1~abcdef', 0), { instanceOf: RangeError });
  const c: Clock<null> = { e: [[id, 1, [null], 5]], a: [] };
  t.is(boundClock(c), c);
});

test('clampContext - counters above this replica\'s are lowered to it, unknown actors are left out; an honest context is unchanged', (t) => {
  const current: StoredClock = { e: [['n1.a', 5, [], 1], ['n2.b', 3, [enc.encode('x')], 2]], a: [] };
  t.deepEqual(clampContext([['ghost', 9], ['n1.a', Number.MAX_SAFE_INTEGER], ['n2.b', 2], ['zz', 1]], current), [['n1.a', 5], ['n2.b', 2]]);
  t.deepEqual(clampContext([['n1.a', 5], ['n2.b', 3]], current), [['n1.a', 5], ['n2.b', 3]]);
  t.deepEqual(clampContext([['n1.a', 5]], undefined), []);
  t.deepEqual(clampContext(undefined, current), []);
  // A write with a forged context never yields an unsafe counter nor covers a dot not yet issued.
  const next = coordinateWrite(current, [['n1.a', Number.MAX_SAFE_INTEGER], ['n2.b', Number.MAX_SAFE_INTEGER]], enc.encode('y'), 'n2.b', 10);
  t.deepEqual(next.e.map((e) => [e[0], e[1], e[2].length]), [['n1.a', 5, 0], ['n2.b', 4, 1]]);
});
