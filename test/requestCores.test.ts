/**
 * The request cores (src/getCore.ts, src/writeCore.ts) without NATS: a scheduler plays the
 * replicas and the timers, delivering replies in an order fast-check chooses (Riak's get/put core
 * QuickCheck models do the same), and the properties are checked on the effects.
 */
import test from 'ava';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { join } from '../src/dvvset.ts';
import { startGet, stepGet, type GetEvent, type GetState } from '../src/getCore.ts';
import { coordinateWrite, needsRepair, reconcile, type StoredClock } from '../src/replica.ts';
import { refusal, refusalOf, type ReplicaResult } from '../src/replicaResult.ts';
import { localRefusal, READ_REPAIR_SETTLE_MS, type Effect } from '../src/requestCore.ts';
import { startWrite, stepWrite, type WriteEvent, type WriteState } from '../src/writeCore.ts';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const bytes = (s: string) => new TextEncoder().encode(s);
/** Old enough that read repair never waits for them to arrive on their own. */
const OLD_MS = 1_000_000;
const START_MS = 10_000_000;
const v1 = coordinateWrite(undefined, undefined, bytes('v1'), 'n9', OLD_MS);
const v2 = coordinateWrite(v1, join(v1), bytes('v2'), 'n9', OLD_MS + 1);
const vc = coordinateWrite(undefined, undefined, bytes('c'), 'n8', OLD_MS);
const COPIES: ReadonlyArray<StoredClock | null> = [null, v1, v2, vc];

/** How a replica answers each attempt, in turn (the last one repeats). */
type Answer = { kind: 'ok'; copy: StoredClock | null } | { kind: 'refuse' } | { kind: 'overloaded' } | { kind: 'gone' } | { kind: 'timeout' };
const answerArb: fc.Arbitrary<Answer> = fc.oneof(
  { weight: 5, arbitrary: fc.constantFrom(...COPIES).map((copy) => ({ kind: 'ok' as const, copy })) },
  { weight: 1, arbitrary: fc.constantFrom<Answer>({ kind: 'refuse' }, { kind: 'overloaded' }, { kind: 'gone' }, { kind: 'timeout' }) },
);

const clusterArb = fc.integer({ min: 3, max: NODES.length }).chain((size) =>
  fc.record({
    preference: fc.shuffledSubarray(NODES, { minLength: size, maxLength: size }),
    n: fc.integer({ min: 1, max: 3 }),
    selfIndex: fc.nat({ max: size - 1 }),
    upFlags: fc.array(fc.boolean(), { minLength: size, maxLength: size }),
    answers: fc.array(fc.array(answerArb, { minLength: 1, maxLength: 4 }), { minLength: size, maxLength: size }),
    /** Picks among the deliverable events at each step. */
    choices: fc.array(fc.nat(), { minLength: 200, maxLength: 200 }),
  }),
);

interface Pending {
  ev: GetEvent | WriteEvent;
  atMs: number;
}

/** Runs a core to its end: every ask is answered once, every timer fires; the order is chosen. */
function drive<E extends GetEvent | WriteEvent>(
  first: Effect[],
  step: (ev: E, nowMs: number) => Effect[],
  reply: (effect: Effect, nowMs: number) => Pending[],
  choices: readonly number[],
  /** What delivering an event sets off besides the core's effects (a replica's reply after its computation). */
  follow: (ev: E, nowMs: number) => Pending[] = () => [],
): { effects: Array<{ effect: Effect; atMs: number }>; delivered: Array<{ ev: E; atMs: number }>; heardBeforeStop: number } {
  const effects: Array<{ effect: Effect; atMs: number }> = [];
  const delivered: Array<{ ev: E; atMs: number }> = [];
  const pending: Pending[] = [];
  let nowMs = START_MS;
  let stopped = false;
  let heardBeforeStop = Infinity;
  const take = (list: Effect[]) => {
    for (const effect of list) {
      effects.push({ effect, atMs: nowMs });
      if (effect.type === 'stop') {
        stopped = true;
        heardBeforeStop = delivered.length;
      }
      if (effect.type === 'schedule') pending.push({ ev: effect.timer === 'retry' ? { type: 'retry', node: effect.node! } : ({ type: effect.timer } as E), atMs: effect.atMs });
      else pending.push(...reply(effect, nowMs));
    }
  };
  take(first);
  for (let i = 0; pending.length > 0 && i < 10_000; i++) {
    // Replies in any order; a timer only once nothing due earlier is left (time moves forward).
    const earliest = Math.min(...pending.map((p) => p.atMs));
    const due = pending.filter((p) => p.ev.type === 'replied' || p.ev.type === 'computed' || p.ev.type === 'forwarded' || p.atMs <= earliest);
    const chosen = due[choices[i % choices.length]! % due.length]!;
    pending.splice(pending.indexOf(chosen), 1);
    nowMs = Math.max(nowMs, chosen.atMs);
    delivered.push({ ev: chosen.ev as E, atMs: nowMs });
    const out = step(chosen.ev as E, nowMs);
    if (stopped && out.length > 0) throw new Error(`effects after stop: ${JSON.stringify(out)}`);
    take(out);
    pending.push(...follow(chosen.ev as E, nowMs));
  }
  return { effects, delivered, heardBeforeStop };
}

function replicaReply(answers: readonly Answer[], attempt: number, deadlineMs: number, nowMs: number): { result: ReplicaResult; atMs: number } {
  const a = answers[Math.min(attempt, answers.length - 1)]!;
  switch (a.kind) {
    case 'ok':
      return { result: { ok: true, clock: a.copy }, atMs: nowMs + 1 };
    case 'refuse':
      return { result: { ok: false, error: 'partition not held by this node' }, atMs: nowMs + 1 };
    case 'overloaded':
      return { result: { ok: false, error: 'overloaded: busy' }, atMs: nowMs + 1 };
    case 'gone':
      return { result: { ok: false, error: 'no responders', unreachable: 'no-responders' }, atMs: nowMs };
    case 'timeout':
      return { result: { ok: false, error: 'timed out', unreachable: 'timeout' }, atMs: deadlineMs };
  }
}

const answers = (effects: Array<{ effect: Effect }>) => effects.filter(({ effect }) => effect.type === 'answer' || effect.type === 'answerRead');

type Cluster = typeof clusterArb extends fc.Arbitrary<infer C> ? C : never;

/** One get on the cluster `c`, every replica answering each attempt as `c.answers` says. */
function runGet(c: Cluster, r: number, localCopy: StoredClock | null) {
  const self = c.preference[c.selfIndex]!;
  const up = new Set(c.preference.filter((x, i) => c.upFlags[i] || x === self));
  const attempts = new Map<string, number>();
  const reply = (e: Effect, nowMs: number): Pending[] => {
    if (e.type !== 'read') return [];
    const n = attempts.get(e.node) ?? 0;
    attempts.set(e.node, n + 1);
    const { result, atMs } = replicaReply(c.answers[c.preference.indexOf(e.node)]!, n, e.deadlineMs, nowMs);
    return [{ ev: { type: 'replied', node: e.node, round: e.round, result }, atMs }];
  };
  const { state, effects } = startGet({ self, key: 'k', preference: c.preference, n: c.n, needed: r, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, local: localCopy, isUp: (x) => up.has(x) }, START_MS);
  const run = drive<GetEvent>(effects, (ev, now) => stepGet(state, ev, now), reply, c.choices);
  return { self, state, run };
}

test('getCore - answers exactly once; a value only with R distinct replies of the final round, an error only without', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(clusterArb, fc.integer({ min: 1, max: 3 }), fc.constantFrom(...COPIES), (c, r, localCopy) => {
        const { self, state, run } = runGet(c, r, localCopy);
        assert.ok(state.done, 'it stops');
        const given = answers(run.effects);
        assert.equal(given.length, 1, 'exactly one answer');
        // The distinct replicas that answered ok in the round that was answered, this node's copy included.
        const okNodes = new Set<string>();
        if (state.local !== undefined) okNodes.add(self);
        for (const { ev } of run.delivered) if (ev.type === 'replied' && ev.round === state.round && ev.result.ok) okNodes.add(ev.node);
        const answered = given[0]!.effect;
        if (answered.type === 'answerRead') {
          assert.ok(okNodes.size >= Math.min(r, state.quorum.total), `answered with ${okNodes.size} ok replies, R=${r}`);
          // The next write's coordinator: an owner that answered, this node first when it read its own copy.
          const owners = c.preference.slice(0, c.n);
          const named = answered.coordinator;
          if (named !== undefined) assert.ok(owners.includes(named) && okNodes.has(named), `names ${named}, an owner that answered`);
          if (state.local !== undefined && owners.includes(self)) assert.equal(named, self, 'names this node, whose own copy came first');
        }
        else if (answered.type === 'answer' && 'error' in answered.body && (answered.body as any).error.code !== 'timeout') assert.ok(okNodes.size < r || state.quorum.total < r, `refused with ${okNodes.size} ok replies, R=${r}`);
      }),
      { numRuns: 2_000, includeErrorInReport: true },
    ),
  );
});

/**
 * Seed 1113488813, kept: the repair timer fires while a replacement owner's read is out; its
 * reply comes after the read has stopped and must not count as heard.
 */
const REPLY_AFTER_STOP: [Cluster, number, StoredClock | null] = [
  {
    preference: ['n4', 'n1', 'n6', 'n5', 'n3'],
    n: 3,
    selfIndex: 0,
    upFlags: [false, false, false, true, true],
    answers: [[{ kind: 'ok', copy: null }], [{ kind: 'ok', copy: null }], [{ kind: 'refuse' }], [{ kind: 'refuse' }, { kind: 'ok', copy: null }], [{ kind: 'timeout' }, { kind: 'refuse' }]],
    choices: [3, ...Array<number>(199).fill(0)],
  },
  1,
  vc,
];

test('getCore - read repair writes exactly to the owners that answered with less than the reconciled set', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(clusterArb, fc.integer({ min: 1, max: 3 }), fc.constantFrom(...COPIES), (c, r, localCopy) => {
        const { self, state, run } = runGet(c, r, localCopy);
        const repairs = run.effects.filter(({ effect }) => effect.type === 'replicate').map(({ effect, atMs }) => ({ ...(effect as Extract<Effect, { type: 'replicate' }>), atMs }));
        const owners = c.preference.slice(0, c.n);
        // What each owner answered in the final round, before the repair. A reply that comes
        // after the read has stopped is not heard: that owner is left to handoff and anti-entropy.
        const copies = new Map<string, StoredClock | null>();
        if (state.local !== undefined && owners.includes(self)) copies.set(self, state.local);
        for (const { ev } of run.delivered.slice(0, run.heardBeforeStop)) if (ev.type === 'replied' && ev.round === state.round && ev.result.ok && owners.includes(ev.node)) copies.set(ev.node, ev.result.clock);
        const seen = [...copies.values()].filter((x): x is StoredClock => x !== null);
        for (const repair of repairs) {
          assert.ok(copies.has(repair.node), `repaired ${repair.node}, which did not answer`);
          assert.deepEqual(repair.clock, reconcile(seen), 'the repair carries the reconciled set');
          assert.ok(needsRepair(copies.get(repair.node)!, repair.clock, repair.atMs - READ_REPAIR_SETTLE_MS), `${repair.node} was not behind`);
        }
        // A read that ran to its end with an answer repaired every owner that was behind.
        const repaired = answers(run.effects)[0]?.effect.type === 'answerRead' && state.repaired;
        if (repaired && seen.length > 0) {
          const target = reconcile(seen);
          for (const [node, copy] of copies) if (needsRepair(copy, target, START_MS)) assert.ok(repairs.some((x) => x.node === node), `${node} was behind and not repaired`);
        }
        assert.equal(new Set(repairs.map((x) => x.node)).size, repairs.length, 'each owner repaired at most once');
      }),
      { numRuns: 2_000, includeErrorInReport: true, examples: [REPLY_AFTER_STOP] },
    ),
  );
});

test('getCore - a fast read whose replica fails before the answer goes on under the full rules with its first deadline', (t) => {
  const isUp = () => true;
  const { state, effects } = startGet({ self: 'n1', key: 'k', preference: ['n1', 'n2', 'n3'], n: 3, needed: 2, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, local: v1, isUp }, START_MS);
  t.is(state.mode, 'fast');
  t.deepEqual(
    effects.filter((e) => e.type === 'schedule'),
    [],
    'no timer on the fast path',
  );
  const after = stepGet(state, { type: 'replied', node: 'n2', round: 0, result: { ok: false, error: 'partition not held by this node' } }, START_MS + 10);
  t.is(state.mode, 'full');
  t.is(state.round, 1);
  t.deepEqual(after.find((e) => e.type === 'schedule'), { type: 'schedule', timer: 'timeout', atMs: START_MS + 5_000 });
  t.deepEqual(after.filter((e) => e.type === 'read').map((e) => (e as any).node).sort(), ['n2', 'n3']);
  // n3's late reply of the first round counts for nothing.
  t.deepEqual(stepGet(state, { type: 'replied', node: 'n3', round: 0, result: { ok: true, clock: v1 } }, START_MS + 20), []);
  const answer = stepGet(state, { type: 'replied', node: 'n3', round: 1, result: { ok: true, clock: v1 } }, START_MS + 30);
  t.deepEqual(answer.find((e) => e.type === 'answerRead'), { type: 'answerRead', merged: v1, coordinator: 'n1' });
});

test('getCore - a stand-in\'s "not found" is held back until every owner asked has answered', (t) => {
  const up = new Set(['n1', 'n3', 'n4']);
  // n2 (an owner) is down: n4 stands in. R=2: n1's copy plus one more.
  const { state } = startGet({ self: 'n1', key: 'k', preference: ['n1', 'n2', 'n3', 'n4'], n: 3, needed: 2, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, local: v1, isUp: (x) => up.has(x) }, START_MS);
  t.is(state.mode, 'full');
  t.deepEqual(stepGet(state, { type: 'replied', node: 'n4', round: 0, result: { ok: true, clock: null } }, START_MS + 1).filter((e) => e.type.startsWith('answer')), [], 'held back while n3 is pending');
  const out = stepGet(state, { type: 'replied', node: 'n3', round: 0, result: { ok: true, clock: v2 } }, START_MS + 2);
  t.deepEqual(out.find((e) => e.type === 'answerRead'), { type: 'answerRead', merged: reconcile([v1, v2]), coordinator: 'n1' });
});

test('getCore - a read on a node that holds no replica names the owner that answered first for the next write', (t) => {
  const isUp = () => true;
  const { state, effects } = startGet({ self: 'n9', key: 'k', preference: ['n1', 'n2', 'n3', 'n9'], n: 3, needed: 2, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, local: undefined, isUp }, START_MS);
  t.is(state.mode, 'full');
  t.deepEqual(effects.filter((e) => e.type === 'read').map((e) => (e as any).node), ['n1', 'n2', 'n3']);
  t.deepEqual(stepGet(state, { type: 'replied', node: 'n3', round: 0, result: { ok: false, error: 'partition not held by this node' } }, START_MS + 1).filter((e) => e.type.startsWith('answer')), []);
  t.deepEqual(stepGet(state, { type: 'replied', node: 'n2', round: 0, result: { ok: true, clock: v1 } }, START_MS + 2).filter((e) => e.type.startsWith('answer')), []);
  const out = stepGet(state, { type: 'replied', node: 'n1', round: 0, result: { ok: true, clock: v1 } }, START_MS + 3);
  t.deepEqual(out.find((e) => e.type === 'answerRead'), { type: 'answerRead', merged: v1, coordinator: 'n2' });
});

const writeArb = fc.record({
  w: fc.integer({ min: 1, max: 3 }),
  forwarded: fc.boolean(),
  selfFails: fc.constantFrom(undefined, 'too_large: value of 2000000 bytes', 'overloaded: busy'),
  forwardedOutcome: fc.constantFrom('ok', 'gone'),
});

test('writeCore - answers at most once; ok only with W acknowledgements; every owner not written gets a hint', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(clusterArb, writeArb, (c, x) => {
        const self = c.preference[c.selfIndex]!;
        const up = new Set(c.preference.filter((n, i) => c.upFlags[i] || n === self));
        const attempts = new Map<string, number>();
        let written: StoredClock | undefined;
        let state!: WriteState;
        const reply = (e: Effect, nowMs: number): Pending[] => {
          if (e.type === 'coordinate') {
            if (x.selfFails) return [{ ev: { type: 'replied', node: self, round: 0, result: { ok: false, error: x.selfFails } }, atMs: nowMs + 1 }];
            // The vnode computes the version, then acknowledges once it is stored (actors/vnode.ts).
            written = coordinateWrite(undefined, undefined, bytes('w'), self, nowMs);
            return [{ ev: { type: 'computed', clock: written }, atMs: nowMs }];
          }
          if (e.type === 'forward') {
            // Forwarded elsewhere: either taken (the answer is relayed) or every candidate gone.
            for (const node of e.candidates) up.delete(node);
            return [{ ev: x.forwardedOutcome === 'ok' ? { type: 'forwarded', body: { ok: true }, replan: false } : { type: 'forwarded', body: { error: { code: 'unavailable', message: 'gone' } }, replan: true }, atMs: nowMs + 1 }];
          }
          if (e.type !== 'replicate') return [];
          const i = c.preference.indexOf(e.node);
          const n = attempts.get(e.node) ?? 0;
          attempts.set(e.node, n + 1);
          const { result, atMs } = replicaReply(c.answers[i]!, n, e.deadlineMs, nowMs);
          return [{ ev: { type: 'replied', node: e.node, round: e.round, result: result.ok ? { ok: true, clock: e.clock } : result }, atMs }];
        };
        const started = startWrite(
          { self, kind: 'put', preference: c.preference, n: c.n, needed: x.w, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, forwarded: x.forwarded, context: undefined, isUp: (n) => up.has(n) },
          START_MS,
        );
        state = started.state;
        const stored = (ev: WriteEvent, nowMs: number): Pending[] => (ev.type === 'computed' ? [{ ev: { type: 'replied', node: self, round: 0, result: { ok: true, clock: null } }, atMs: nowMs + 1 }] : []);
        const run = drive<WriteEvent>(started.effects, (ev, now) => stepWrite(state, ev, now), reply, c.choices, stored);
        assert.ok(state.done, 'it stops');
        const given = answers(run.effects);
        assert.equal(given.length, 1, 'exactly one answer');
        const body = (given[0]!.effect as Extract<Effect, { type: 'answer' }>).body as any;
        if (written === undefined) return; // forwarded or refused here: nothing was written by this core
        // Acknowledgements: this node's own, and each replica's ok of the written version.
        const acked = new Set<string>();
        for (const { ev } of run.delivered) if (ev.type === 'replied' && ev.result.ok) acked.add(ev.node);
        if (body.ok) assert.ok(acked.size >= Math.min(x.w, state.quorum!.total), `ok with ${acked.size} acks, W=${x.w}`);
        else if (body.error.code !== 'timeout') assert.ok(acked.size < x.w, `refused with ${acked.size} acks, W=${x.w}`);
        // Hinted handoff: every owner that did not acknowledge is named in a hint sent to a node
        // that did, or handed to a keeper of orphaned hints.
        const hinted = new Set<string>();
        for (const { effect } of run.effects) {
          if (effect.type === 'replicate' && acked.has(effect.node)) effect.hints.forEach((o) => hinted.add(o));
          if (effect.type === 'coordinate' && acked.has(self)) [...effect.hints, ...(owners(c).includes(self) ? [] : effect.standFor)].forEach((o) => hinted.add(o));
          if (effect.type === 'keepHints') effect.owners.forEach((o) => hinted.add(o));
        }
        if (body.ok) for (const o of owners(c)) assert.ok(acked.has(o) || hinted.has(o), `owner ${o} neither written nor hinted: ${JSON.stringify(run.effects.map((e) => e.effect.type === 'replicate' ? { ...e.effect, clock: undefined } : e.effect))} ${JSON.stringify(run.delivered.map((d) => d.ev.type === 'computed' ? 'computed' : d.ev))}`);
      }),
      { numRuns: 2_000, includeErrorInReport: true },
    ),
  );
});

const owners = (c: { preference: string[]; n: number }) => c.preference.slice(0, c.n);

test('writeCore - a write this node cannot make answers with its reason and asks no one else', (t) => {
  const { state, effects } = startWrite(
    { self: 'n1', kind: 'put', preference: ['n1', 'n2', 'n3'], n: 3, needed: 2, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, forwarded: false, context: undefined, isUp: () => true },
    START_MS,
  );
  t.true(effects.some((e) => e.type === 'coordinate'));
  const out = stepWrite(state, { type: 'replied', node: 'n1', round: 0, result: { ok: false, error: 'too_large: value of 9 bytes, at most 8' } }, START_MS + 1);
  t.deepEqual(out, [{ type: 'answer', body: { error: { code: 'too_large', message: 'value of 9 bytes, at most 8' } } }, { type: 'stop' }]);
});

test('writeCore - sync one: one replica holds the durable mark, this node when it is an owner, a replacement after it; ok only with its ack or after it failed', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(clusterArb, writeArb, fc.boolean(), (c, x, durableOne) => {
        const self = c.preference[c.selfIndex]!;
        const up = new Set(c.preference.filter((n, i) => c.upFlags[i] || n === self));
        const attempts = new Map<string, number>();
        let coordinated = false;
        const reply = (e: Effect, nowMs: number): Pending[] => {
          if (e.type === 'coordinate') {
            coordinated = true;
            return [{ ev: { type: 'computed', clock: coordinateWrite(undefined, undefined, bytes('w'), self, nowMs) }, atMs: nowMs }];
          }
          if (e.type === 'forward') return [{ ev: { type: 'forwarded', body: { ok: true }, replan: false }, atMs: nowMs + 1 }];
          if (e.type !== 'replicate') return [];
          const n = attempts.get(e.node) ?? 0;
          attempts.set(e.node, n + 1);
          const { result, atMs } = replicaReply(c.answers[c.preference.indexOf(e.node)]!, n, e.deadlineMs, nowMs);
          return [{ ev: { type: 'replied', node: e.node, round: e.round, result: result.ok ? { ok: true, clock: null } : result }, atMs }];
        };
        const started = startWrite(
          { self, kind: 'put', preference: c.preference, n: c.n, needed: x.w, deadlineMs: START_MS + 5_000, clientDeadlineMs: undefined, forwarded: x.forwarded, context: undefined, isUp: (n) => up.has(n), durableOne },
          START_MS,
        );
        // What the replies said before the answer: the answer must follow the durable replica's.
        const acked = new Set<string>();
        const failed = new Set<string>();
        let atAnswer: { acked: Set<string>; failed: Set<string> } | undefined;
        // The first asks, this node's own and those sent once it made the version; the mark starts
        // among them. Each node that holds it after is asked once the holder before it failed.
        const firstAsked: string[] = [self];
        const holders: string[] = [];
        const mark = (node: string) => {
          const last = holders.at(-1);
          if (last === node) return; // a retry keeps the mark
          if (last !== undefined) assert.ok(failed.has(last), `the mark moved from ${last} to ${node} before ${last} failed`);
          holders.push(node);
        };
        const asked = new Set<string>();
        const step = (ev: WriteEvent, now: number) => {
          if (ev.type === 'replied') (ev.result.ok ? acked : failed).add(ev.node);
          const out = stepWrite(started.state, ev, now);
          for (const e of out) {
            if (e.type === 'coordinate' && e.durable) mark(self);
            if (e.type === 'replicate' && e.durable) mark(e.node);
            // The holder failed and a node new to this write replaces it: the mark goes along.
            if (e.type === 'replicate' && !asked.has(e.node) && ev.type === 'replied' && !ev.result.ok && ev.node === holders.at(-1)) {
              assert.ok(e.durable, `${e.node} replaced ${ev.node}, the durable replica, without the mark`);
            }
            if (e.type === 'replicate') asked.add(e.node);
          }
          if (ev.type === 'computed') for (const e of out) if (e.type === 'replicate') firstAsked.push(e.node);
          if (out.some((e) => e.type === 'answer')) atAnswer ??= { acked: new Set(acked), failed: new Set(failed) };
          return out;
        };
        for (const e of started.effects) if (e.type === 'coordinate' && e.durable) mark(self);
        const stored = (ev: WriteEvent, nowMs: number): Pending[] => (ev.type === 'computed' ? [{ ev: { type: 'replied', node: self, round: 0, result: { ok: true, clock: null } }, atMs: nowMs + 1 }] : []);
        const run = drive<WriteEvent>(started.effects, step, reply, c.choices, stored);
        if (!durableOne || !coordinated) return assert.deepEqual(holders, [], `no durable copy asked: ${holders}`);
        const first = owners(c).includes(self) ? self : (firstAsked.find((n) => owners(c).includes(n) && up.has(n)) ?? self);
        assert.equal(holders[0], first, `the mark starts on ${first} (first asked ${firstAsked}): ${holders}`);
        const body = (answers(run.effects)[0]!.effect as Extract<Effect, { type: 'answer' }>).body as any;
        const m = holders.at(-1)!;
        if (body.ok) assert.ok(atAnswer!.acked.has(m) || atAnswer!.failed.has(m), `ok before ${m}, the durable replica, answered`);
      }),
      { numRuns: 1_000, includeErrorInReport: true },
    ),
  );
});

test('refusals - a replica refusal reads back as its code and message; any other error string is no refusal', (t) => {
  t.deepEqual(refusalOf(refusal('overloaded', 'n2 is busy')), { code: 'overloaded', message: 'n2 is busy' });
  t.deepEqual(refusalOf(refusal('too_large', 'about 9 bytes, at most 8')), { code: 'too_large', message: 'about 9 bytes, at most 8' });
  // A peer's free text that only mentions a code, or a code this store does not know, is a failure.
  for (const error of ['n3 timed out: overloaded: maybe', 'overloaded:no space', 'Overloaded: busy', 'internal: broken', 'overloaded', '']) {
    t.is(refusalOf(error), undefined, JSON.stringify(error));
  }
  // The coordinator's reading of its own replica's refusal, and of anything else.
  t.deepEqual(localRefusal(refusal('overloaded', 'busy'), 'n1'), { code: 'overloaded', message: 'busy' });
  t.deepEqual(localRefusal('lmdb: MDB_MAP_FULL', 'n1'), { code: 'internal', message: 'the coordinating replica n1 could not write: lmdb: MDB_MAP_FULL' });
});
