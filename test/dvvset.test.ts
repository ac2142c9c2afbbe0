import test, { type ExecutionContext } from 'ava';
import fc from 'fast-check';
import {
  MAX_CLOCK_ENTRIES,
  emptyClock,
  equal as clockEqual,
  isClock,
  join,
  less,
  liveValues,
  newClock,
  prune,
  size,
  sync,
  update,
  values,
  type Clock,
  type Entry,
} from '../src/dvvset.ts';
import {
  concurrent,
  descends,
  dominates,
  equal,
  fromEntries,
  get,
  increment,
  isVersionVector,
  merge,
  type VersionVector,
} from '../src/versionVector.ts';
import { decodeContext, encodeContext } from '../src/context.ts';

// ---------------------------------------------------------------------------------------------
// Version vectors

const vvArb: fc.Arbitrary<VersionVector> = fc
  .dictionary(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.integer({ min: 1, max: 4 }))
  .map((d) => fromEntries(Object.entries(d)));

test('version vector - merge is commutative, associative, idempotent and an upper bound', (t) => {
  fc.assert(
    fc.property(vvArb, vvArb, vvArb, (a, b, c) => {
      t.deepEqual(merge(a, b), merge(b, a));
      t.deepEqual(merge(merge(a, b), c), merge(a, merge(b, c)));
      t.deepEqual(merge(a, a), a);
      t.true(descends(merge(a, b), a) && descends(merge(a, b), b));
      t.true(isVersionVector(merge(a, b)));
    }),
  );
});

test('version vector - descends is reflexive, transitive, antisymmetric', (t) => {
  fc.assert(
    fc.property(vvArb, vvArb, vvArb, (a, b, c) => {
      t.true(descends(a, a));
      if (descends(a, b) && descends(b, c)) t.true(descends(a, c));
      if (descends(a, b) && descends(b, a)) t.true(equal(a, b));
      t.is(dominates(a, b), descends(a, b) && !equal(a, b));
      t.is(concurrent(a, b), !descends(a, b) && !descends(b, a));
    }),
  );
});

test('version vector - increment adds exactly one event', (t) => {
  fc.assert(
    fc.property(vvArb, fc.constantFrom('a', 'c', 'e', 'z', '0'), (a, id) => {
      const b = increment(a, id);
      t.true(isVersionVector(b));
      t.true(dominates(b, a));
      t.is(get(b, id), get(a, id) + 1);
      t.deepEqual(b.filter(([i]) => i !== id), a.filter(([i]) => i !== id));
    }),
  );
});

test('version vector - validation', (t) => {
  t.true(isVersionVector([]));
  t.true(isVersionVector([['a', 1], ['b', 7]]));
  for (const bad of [null, {}, [['b', 1], ['a', 1]], [['a', 1], ['a', 2]], [['a', 0]], [['a', 1.5]], [['', 1]], [['a']], [[1, 1]]]) {
    t.false(isVersionVector(bad), JSON.stringify(bad));
  }
  t.deepEqual(fromEntries([['b', 2], ['a', 1]]), [['a', 1], ['b', 2]]);
  t.throws(() => fromEntries([['a', 1], ['a', 2]]), { instanceOf: RangeError });
  t.throws(() => fromEntries([['a', -1]]), { instanceOf: RangeError });
});

// ---------------------------------------------------------------------------------------------
// A simulation of replicas and clients with an oracle of true causality.
//
// Values are write ids (numbers). The oracle records, for each write, the set of writes its
// client had seen when it read (its causal past). A replica "knows" a set of writes (those it
// holds or has seen superseded); the siblings it must hold are exactly the known writes that no
// other known write has in its past. DVVSets are claimed to be exact, so we assert equality.

interface Replica {
  readonly id: string;
  clock: Clock<number>;
  known: Set<number>;
}
interface Held {
  readonly ctx: VersionVector;
  readonly seen: ReadonlySet<number>;
}

class Sim {
  readonly replicas: Replica[];
  readonly clients: Array<Held | undefined>;
  readonly past = new Map<number, ReadonlySet<number>>();
  readonly dot = new Map<number, readonly [string, number]>();
  nowMs = 1_000;
  nextWrite = 1;

  constructor(replicaCount: number, clientCount: number) {
    this.replicas = Array.from({ length: replicaCount }, (_, i) => ({ id: `r${i}`, clock: emptyClock<number>(), known: new Set<number>() }));
    this.clients = Array.from({ length: clientCount }, () => undefined);
  }

  read(client: number, replica: number): void {
    const r = this.replicas[replica]!;
    // Through the wire format, as a real client would.
    this.clients[client] = { ctx: decodeContext(encodeContext(join(r.clock))), seen: new Set(r.known) };
  }

  /** Writes with the context last read (none if it has not read), then forgets it. */
  write(client: number, replica: number): number {
    const r = this.replicas[replica]!;
    const held = this.clients[client];
    const w = this.nextWrite++;
    this.nowMs += 1;
    r.clock = update(newClock(held?.ctx ?? [], w), r.clock, r.id, this.nowMs);
    const entry = r.clock.e.find((e) => e[0] === r.id)!;
    this.dot.set(w, [r.id, entry[1]]);
    this.past.set(w, held?.seen ?? new Set());
    r.known = new Set([...r.known, ...(held?.seen ?? []), w]);
    this.clients[client] = undefined;
    return w;
  }

  /** Anti-entropy / read repair between two replicas: both end with the synced clock. */
  syncPair(x: number, y: number): void {
    const a = this.replicas[x]!;
    const b = this.replicas[y]!;
    const c = sync(a.clock, b.clock);
    const known = new Set([...a.known, ...b.known]);
    a.clock = c;
    b.clock = c;
    a.known = known;
    b.known = new Set(known);
  }

  /** The writes replica r must hold as siblings: known, and in no known write's past. */
  frontier(replica: number): number[] {
    const r = this.replicas[replica]!;
    const covered = new Set<number>();
    for (const w of r.known) for (const p of this.past.get(w) ?? []) covered.add(p);
    return [...r.known].filter((w) => !covered.has(w)).sort((p, q) => p - q);
  }

  /** Asserts the replica holds exactly the oracle's siblings and its context covers exactly what it knows. */
  check(t: ExecutionContext, replica: number): void {
    const r = this.replicas[replica]!;
    t.true(isClock(r.clock, (v): v is number => typeof v === 'number'), 'clock invariants');
    t.deepEqual(sortedValues(r.clock), this.frontier(replica), `siblings at ${r.id}`);
    const ctx = join(r.clock);
    for (const [w, [id, n]] of this.dot) {
      if (get(ctx, id) >= n !== r.known.has(w)) t.true(false, `context of ${r.id} and knowledge disagree on write ${w}`);
    }
  }
}

function sortedValues(c: Clock<number>): number[] {
  return values(c).sort((p, q) => p - q);
}

type Op =
  | { kind: 'read'; client: number; replica: number }
  | { kind: 'write'; client: number; replica: number }
  | { kind: 'sync'; x: number; y: number };

const REPLICAS = 3;
const opArb = (clients: number): fc.Arbitrary<Op> =>
  fc.oneof(
    fc.record({ kind: fc.constant('read' as const), client: fc.nat(clients - 1), replica: fc.nat(REPLICAS - 1) }),
    fc.record({ kind: fc.constant('write' as const), client: fc.nat(clients - 1), replica: fc.nat(REPLICAS - 1) }),
    fc.record({ kind: fc.constant('sync' as const), x: fc.nat(REPLICAS - 1), y: fc.nat(REPLICAS - 1) }),
  );

function run(sim: Sim, op: Op): void {
  if (op.kind === 'read') sim.read(op.client, op.replica);
  else if (op.kind === 'write') sim.write(op.client, op.replica);
  else sim.syncPair(op.x, op.y);
}

/** Three clocks of one history (any replica, any moment), so that their dots agree on values. */
const clocksArb: fc.Arbitrary<[Clock<number>, Clock<number>, Clock<number>]> = fc
  .tuple(fc.array(opArb(3), { minLength: 5, maxLength: 60 }), fc.nat(12), fc.nat(12), fc.nat(12))
  .map(([ops, i, j, k]) => {
    const sim = new Sim(REPLICAS, 3);
    const seen: Clock<number>[] = [emptyClock()];
    for (const op of ops) {
      run(sim, op);
      for (const r of sim.replicas) seen.push(r.clock);
    }
    // Mostly recent snapshots (richer clocks), sometimes the empty one.
    const pick = (n: number): Clock<number> => seen[Math.max(0, seen.length - 1 - n)]!;
    return [pick(i), pick(j), pick(k)];
  });

/** Anonymous values sort as numbers: their order in a union is not part of the meaning. */
function canonical(c: Clock<number>): Clock<number> {
  return { e: c.e, a: [...c.a].sort((p, q) => p - q) };
}

function dots(c: Clock<number>): Array<[string, number, number]> {
  return c.e.flatMap(([id, n, vs]) => vs.map((v, i): [string, number, number] => [id, n - i, v]));
}

// ---------------------------------------------------------------------------------------------
// DVVSet laws

test('dvvset - sync is commutative, associative and idempotent', (t) => {
  fc.assert(
    fc.property(clocksArb, ([a, b, c]) => {
      t.deepEqual(canonical(sync(a, b)), canonical(sync(b, a)));
      t.deepEqual(canonical(sync(sync(a, b), c)), canonical(sync(a, sync(b, c))));
      t.deepEqual(canonical(sync(a, a)), canonical(a));
      t.deepEqual(canonical(sync(a, emptyClock())), canonical(a));
    }),
  );
});

test('dvvset - sync with anonymous values is commutative and idempotent', (t) => {
  fc.assert(
    fc.property(clocksArb, fc.array(fc.integer({ min: 1000, max: 1005 }), { maxLength: 3 }), fc.array(fc.integer({ min: 1000, max: 1005 }), { maxLength: 3 }), ([a, b], xa, xb) => {
      const ax: Clock<number> = { e: a.e, a: [...new Set(xa)] };
      const bx: Clock<number> = { e: b.e, a: [...new Set(xb)] };
      t.deepEqual(canonical(sync(ax, bx)), canonical(sync(bx, ax)));
      t.deepEqual(canonical(sync(ax, ax)), canonical(ax));
    }),
  );
});

test('dvvset - reconciliation never drops a version that no other version descends from', (t) => {
  fc.assert(
    fc.property(clocksArb, ([a, b]) => {
      const s = sync(a, b);
      const kept = new Set(values(s));
      const ctxB = join(b);
      const heldByB = new Set(dots(b).map(([id, n]) => `${id}/${n}`));
      for (const [id, n, v] of dots(a)) {
        // Dropped only if b has seen dot (id, n) and b no longer holds it.
        if (!kept.has(v)) t.true(get(ctxB, id) >= n && !heldByB.has(`${id}/${n}`), `value ${v} at ${id}/${n} dropped`);
        else if (get(ctxB, id) >= n) t.true(heldByB.has(`${id}/${n}`), `value ${v} kept though b superseded it`);
      }
      // Nothing appears from nowhere.
      const all = new Set([...values(a), ...values(b)]);
      for (const v of kept) t.true(all.has(v));
    }),
  );
});

test('dvvset - join of sync is the merge of joins; less agrees with the joins', (t) => {
  fc.assert(
    fc.property(clocksArb, ([a, b]) => {
      t.deepEqual(join(sync(a, b)), merge(join(a), join(b)));
      t.is(less(a, b), dominates(join(b), join(a)));
      t.false(less(a, a));
    }),
  );
});

test('dvvset - update descends both the context and the server clock', (t) => {
  fc.assert(
    fc.property(clocksArb, fc.constantFrom('r0', 'r1', 'q'), ([a, b], id) => {
      const u = update(newClock(join(a), 99), b, id, 5);
      t.true(less(b, u));
      t.true(dominates(join(u), join(a)));
      t.is(get(join(u), id), Math.max(get(join(a), id), get(join(b), id)) + 1);
      t.true(values(u).includes(99));
      t.is(u.a.length, 0);
    }),
  );
});

// ---------------------------------------------------------------------------------------------
// Exact traces (after the eunit tests of dvvset.erl), t in the fourth slot.

test('dvvset - update trace', (t) => {
  const a0 = update(newClock<string>([], 'v1'), emptyClock(), 'a', 1);
  const a1 = update(newClock(join(a0), 'v2'), a0, 'a', 2);
  const a2 = update(newClock(join(a1), 'v3'), a1, 'b', 3);
  const a3 = update(newClock(join(a0), 'v4'), a1, 'b', 4);
  const a4 = update(newClock(join(a0), 'v5'), a1, 'a', 5);
  t.deepEqual(a0, { e: [['a', 1, ['v1'], 1]], a: [] });
  t.deepEqual(a1, { e: [['a', 2, ['v2'], 2]], a: [] });
  t.deepEqual(a2, { e: [['a', 2, [], 2], ['b', 1, ['v3'], 3]], a: [] });
  t.deepEqual(a3, { e: [['a', 2, ['v2'], 2], ['b', 1, ['v4'], 4]], a: [] });
  t.deepEqual(a4, { e: [['a', 3, ['v5', 'v2'], 5]], a: [] });
});

test('dvvset - a stale write through the same coordinator keeps the newer concurrent value', (t) => {
  const a0 = update(newClock<string>([], 'v1'), emptyClock(), 'a', 1); // Mary writes v1 without context
  const vv1 = join(a0); // Peter reads v1
  const a1 = update(newClock<string>([], 'v2'), a0, 'a', 2); // Mary writes v2 without context
  const a2 = update(newClock(vv1, 'v3'), a1, 'a', 3); // Peter writes v3 with v1's context
  t.deepEqual(vv1, [['a', 1]]);
  t.deepEqual(a1, { e: [['a', 2, ['v2', 'v1'], 2]], a: [] });
  t.deepEqual(a2, { e: [['a', 3, ['v3', 'v2'], 3]], a: [] }); // v1 superseded, v2 concurrent
});

test('dvvset - sync trace', (t) => {
  const w: Clock<string> = { e: [['a', 1, [], 0]], a: [] };
  const z: Clock<string> = { e: [['a', 2, ['v2', 'v1'], 7]], a: [] };
  t.deepEqual(sync(w, z), { e: [['a', 2, ['v2'], 7]], a: [] });
  const x: Clock<string> = { e: [['x', 1, [], 3]], a: [] };
  const a = update(newClock<string>([], 'v1'), emptyClock(), 'a', 1);
  t.deepEqual(sync(x, a), { e: [['a', 1, ['v1'], 1], ['x', 1, [], 3]], a: [] });
  t.deepEqual(sync(a, x), sync(x, a));
});

test('dvvset - update rejects a client clock that is not a newClock result', (t) => {
  t.throws(() => update(emptyClock<number>(), emptyClock(), 'a', 0));
  t.throws(() => update({ e: [], a: [1, 2] }, emptyClock(), 'a', 0));
});

// ---------------------------------------------------------------------------------------------
// Dynamo semantics, with the store's value type (bytes, null = tombstone).

type Stored = Uint8Array | null;
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

class Store {
  clock = emptyClock<Stored>();
  nowMs = 0;
  get(): { values: string[]; context: string } {
    return { values: liveValues(this.clock).map(text).sort(), context: encodeContext(join(this.clock)) };
  }
  put(value: string, context?: string): void {
    this.write(bytes(value), context);
  }
  delete(context?: string): void {
    this.write(null, context);
  }
  private write(v: Stored, context?: string): void {
    const ctx = context === undefined ? [] : decodeContext(context);
    this.clock = update(newClock(ctx, v), this.clock, 'n1', ++this.nowMs);
  }
}

test('dynamo - a put without context on an existing key makes a sibling', (t) => {
  const s = new Store();
  s.put('v1');
  s.put('v2');
  t.deepEqual(s.get().values, ['v1', 'v2']);
});

test('dynamo - a put with the merged context resolves siblings', (t) => {
  const s = new Store();
  s.put('v1');
  s.put('v2');
  s.put('merged', s.get().context);
  t.deepEqual(s.get().values, ['merged']);
  t.is(size(s.clock), 1);
});

test('dynamo - a delete supersedes exactly what its context covers; a concurrent put survives', (t) => {
  const s = new Store();
  s.put('v1');
  const seenByA = s.get().context;
  const seenByB = s.get().context;
  s.put('v2', seenByB); // B overwrites v1
  s.delete(seenByA); // A deletes v1, never saw v2
  t.deepEqual(s.get().values, ['v2']);
  t.is(size(s.clock), 2); // v2 and A's tombstone
  s.delete(s.get().context);
  t.deepEqual(s.get().values, []);
  t.is(size(s.clock), 1); // only the tombstone
});

test('dynamo - a delete without context does not remove versions it has not seen', (t) => {
  const s = new Store();
  s.put('v1');
  s.delete();
  t.deepEqual(s.get().values, ['v1']);
});

test('dynamo - a put after a delete with the context of the get leaves one live value', (t) => {
  const s = new Store();
  s.put('v1');
  s.delete(s.get().context);
  const afterDelete = s.get();
  t.deepEqual(afterDelete.values, []);
  s.put('v2', afterDelete.context);
  t.deepEqual(s.get().values, ['v2']);
  t.is(size(s.clock), 1); // the tombstone is gone too
});

test('dynamo - a get of a missing key returns a context that put accepts', (t) => {
  const s = new Store();
  const { values: vs, context } = s.get();
  t.deepEqual(vs, []);
  s.put('v1', context);
  t.deepEqual(s.get().values, ['v1']);
});

// ---------------------------------------------------------------------------------------------
// Sibling explosion
//
// Plain vector clocks keyed by coordinator node (Riak 1.x vnode_vclocks) give the whole object
// one clock. When every write goes through one node, every write's clock is that node's counter.
// A write whose context is older than the stored clock cannot tell which stored siblings its
// client had seen, so to lose nothing it must keep all of them and add itself (its clock becomes
// the merged clock plus one). Clients doing read-modify-write that interleave so that each write
// lands one step behind ("read, someone else writes, write") never catch up: every write adds a
// sibling and none is ever removed, so the sibling count grows with the number of writes, not the
// number of writers. `naivePut` below is that scheme; the test shows it growing while a DVVSet,
// which dots each value separately, stays at the number of truly concurrent writers (<= K).

interface NaiveObject {
  vv: VersionVector;
  values: number[];
}
function naivePut(o: NaiveObject, ctx: VersionVector, v: number): NaiveObject {
  if (descends(ctx, o.vv)) return { vv: increment(o.vv, 'n1'), values: [v] };
  return { vv: increment(merge(o.vv, ctx), 'n1'), values: [...o.values, v] };
}

test('sibling explosion - one step stale writers: vector clocks grow, DVVSet stays at 2', (t) => {
  const sim = new Sim(1, 2);
  let naive: NaiveObject = { vv: [], values: [] };
  const naiveCtx: VersionVector[] = [[], []];
  sim.read(0, 0);
  naiveCtx[0] = naive.vv;
  const rounds = 50;
  for (let i = 0; i < rounds; i++) {
    // B writes with its stale context, then reads; then A does the same.
    for (const [writer, reader] of [[1, 1], [0, 0]] as const) {
      const w = sim.write(writer, 0);
      naive = naivePut(naive, naiveCtx[writer]!, w);
      sim.read(reader, 0);
      naiveCtx[reader] = naive.vv;
      sim.check(t, 0);
      t.true(size(sim.replicas[0]!.clock) <= 2);
    }
  }
  t.true(naive.values.length >= rounds, `vector clocks kept ${naive.values.length} siblings`);
  t.is(size(sim.replicas[0]!.clock), 2);
});

test('sibling explosion - K read-modify-write clients through one coordinator never exceed K siblings', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 5 }).chain((k) => fc.tuple(fc.constant(k), fc.array(fc.nat(k - 1), { minLength: 1, maxLength: 150 }))),
      ([k, schedule]) => {
        const sim = new Sim(1, k);
        for (const c of schedule) {
          // A client alternates: read the value and context, later write with it.
          if (sim.clients[c] === undefined) sim.read(c, 0);
          else sim.write(c, 0);
          sim.check(t, 0);
          t.true(size(sim.replicas[0]!.clock) <= k);
        }
      },
    ),
  );
});

test('sibling explosion - sticky clients on different coordinators with syncing replicas never exceed K siblings', (t) => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 5 }).chain((k) =>
        fc.tuple(
          fc.constant(k),
          fc.array(fc.oneof(fc.record({ c: fc.nat(k - 1) }), fc.record({ x: fc.nat(REPLICAS - 1), y: fc.nat(REPLICAS - 1) })), { maxLength: 150 }),
        ),
      ),
      ([k, schedule]) => {
        const sim = new Sim(REPLICAS, k);
        for (const step of schedule) {
          if ('c' in step) {
            const home = step.c % REPLICAS; // each client reads and writes through one coordinator
            if (sim.clients[step.c] === undefined) sim.read(step.c, home);
            else sim.write(step.c, home);
          } else {
            sim.syncPair(step.x, step.y);
          }
          for (let r = 0; r < REPLICAS; r++) {
            sim.check(t, r);
            t.true(size(sim.replicas[r]!.clock) <= k);
          }
        }
      },
    ),
  );
});

test('sibling explosion - any clients, coordinators and syncs: siblings are exactly the concurrent writes', (t) => {
  fc.assert(
    fc.property(fc.array(opArb(4), { maxLength: 120 }), (ops) => {
      const sim = new Sim(REPLICAS, 4);
      for (const op of ops) {
        run(sim, op);
        for (let r = 0; r < REPLICAS; r++) sim.check(t, r);
      }
      // After full anti-entropy every replica agrees.
      sim.syncPair(0, 1);
      sim.syncPair(1, 2);
      sim.syncPair(0, 1);
      for (let r = 0; r < REPLICAS; r++) sim.check(t, r);
      t.true(clockEqual(sim.replicas[0]!.clock, sim.replicas[2]!.clock));
    }),
  );
});

// ---------------------------------------------------------------------------------------------
// Pruning

const ID_POOL = Array.from({ length: 16 }, (_, i) => `n${String(i).padStart(2, '0')}`);
const wideClockArb: fc.Arbitrary<Clock<number>> = fc
  .uniqueArray(
    fc.record({ id: fc.constantFrom(...ID_POOL), n: fc.integer({ min: 1, max: 5 }), held: fc.nat(2), t: fc.nat(20) }),
    { selector: (r) => r.id, maxLength: ID_POOL.length },
  )
  .map((rs) => {
    let v = 0;
    const e = rs
      .map(({ id, n, held, t }): Entry<number> => [id, n, Array.from({ length: Math.min(held, n) }, () => ++v), t])
      .sort((x, y) => (x[0] < y[0] ? -1 : 1));
    return { e, a: [] };
  });

test('prune - keeps at most maxEntries when it can, never an entry with values, oldest first', (t) => {
  fc.assert(
    fc.property(wideClockArb, fc.integer({ min: 0, max: 12 }), (c, max) => {
      const p = prune(c, max);
      const kept = new Set(p.e.map((e) => e[0]));
      const withValues = c.e.filter((e) => e[2].length > 0);
      t.true(isClock(p, (v): v is number => typeof v === 'number'));
      t.deepEqual(values(p), values(c)); // no data lost
      for (const e of withValues) t.true(kept.has(e[0]));
      t.is(p.e.length, c.e.length <= max ? c.e.length : Math.max(max, withValues.length));
      for (const e of p.e) t.deepEqual(e, c.e.find((x) => x[0] === e[0])); // kept entries unchanged
      const dropped = c.e.filter((e) => !kept.has(e[0]));
      const keptEmpty = p.e.filter((e) => e[2].length === 0);
      for (const d of dropped) for (const k of keptEmpty) t.true(d[3] <= k[3], `dropped ${d[0]}@${d[3]} before ${k[0]}@${k[3]}`);
    }),
  );
});

test('prune - the default bound, protected ids and young entries', (t) => {
  const e = ID_POOL.slice(0, 12).map((id, i): Entry<number> => [id, 1, [], i]);
  const c: Clock<number> = { e, a: [] };
  t.is(MAX_CLOCK_ENTRIES, 10);
  t.deepEqual(prune(c).e.map((x) => x[0]), ID_POOL.slice(2, 12));
  t.deepEqual(prune(c, 10, { keepIds: ['n00'] }).e.map((x) => x[0]), ['n00', ...ID_POOL.slice(3, 12)]);
  // At now = 12 with ageMsMin = 12, only n00 (t = 0) is old enough to drop.
  t.deepEqual(prune(c, 10, { now: 12, ageMsMin: 12 }).e.map((x) => x[0]), ID_POOL.slice(1, 12));
  t.is(prune(c, 12), c);
  t.throws(() => prune(c, -1), { instanceOf: RangeError });
});

test('prune - a pruned entry only costs a false sibling, never a write', (t) => {
  // Replica r1 forgets a's entry; r2 still holds an old value with an a-dot. After sync the old
  // value comes back as a sibling rather than anything being lost.
  const old = update(newClock<string>([], 'old'), emptyClock(), 'a', 1);
  const r2 = old;
  const r1 = prune(update(newClock(join(old), 'new'), old, 'b', 2), 0);
  t.deepEqual(values(r1), ['new']);
  t.deepEqual(join(r1), [['b', 1]]);
  t.deepEqual(values(sync(r1, r2)).sort(), ['new', 'old']);
});
