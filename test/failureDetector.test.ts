import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_DETECTOR, initialHealth, observe, type Outcome, type PeerHealth, type PeerStatus } from '../src/failureDetector.ts';

const T0_MS = 1_000_000;
const outcomeArb = fc.constantFrom<Outcome>('ok', 'no-responders', 'timeout');
/** A run: the threshold, then outcomes with the gap (ms) since the previous one; time never goes back. */
const runArb = fc.record({
  timeoutsToDown: fc.integer({ min: 1, max: 5 }),
  steps: fc.array(fc.tuple(outcomeArb, fc.integer({ min: 0, max: 1_000 })), { maxLength: 60 }),
});

function feed(h: PeerHealth, outcomes: readonly Outcome[], startMs: number, timeoutsToDown = DEFAULT_DETECTOR.timeoutsToDown) {
  let health = h;
  const changes: ({ from: PeerStatus; to: PeerStatus } | undefined)[] = [];
  outcomes.forEach((o, i) => {
    const r = observe(health, o, startMs + i, { timeoutsToDown });
    health = r.health;
    changes.push(r.changed);
  });
  return { health, changes };
}

/**
 * The rule, spelled out independently of the implementation: look at the outcomes since the last
 * 'ok' (or since the start). The peer is down when they hold a 'no-responders', or at least
 * `timeoutsToDown` timeouts; while up, the timeouts among them are the consecutive count.
 */
function model(outcomes: readonly Outcome[], timeoutsToDown: number): { status: PeerStatus; timeouts: number } {
  const lastOk = outcomes.lastIndexOf('ok');
  const since = outcomes.slice(lastOk + 1);
  const down = since.includes('no-responders') || since.length >= timeoutsToDown;
  return { status: down ? 'down' : 'up', timeouts: down ? 0 : since.length };
}

test('failureDetector - a new peer is up, with no timeouts and no last ok', (t) => {
  t.deepEqual(initialHealth(T0_MS), { status: 'up', consecutiveTimeouts: 0, sinceMs: T0_MS });
  t.is(DEFAULT_DETECTOR.timeoutsToDown, 2);
});

test('failureDetector - no-responders marks an up peer down at once', (t) => {
  const up = observe(initialHealth(T0_MS), 'ok', T0_MS + 10).health;
  const r = observe(up, 'no-responders', T0_MS + 20);
  t.deepEqual(r.changed, { from: 'up', to: 'down' });
  t.deepEqual(r.health, { status: 'down', consecutiveTimeouts: 0, sinceMs: T0_MS + 20, reason: 'no-responders', lastOkMs: T0_MS + 10 });
});

test('failureDetector - no-responders marks a peer down even after timeouts below the threshold', (t) => {
  const r = feed(initialHealth(T0_MS), ['timeout', 'no-responders'], T0_MS + 1, 5);
  t.is(r.health.status, 'down');
  t.is(r.health.reason, 'no-responders');
  t.deepEqual(r.changes, [undefined, { from: 'up', to: 'down' }]);
});

test('failureDetector - timeouts mark a peer down only after timeoutsToDown in a row', (t) => {
  for (let timeoutsToDown = 1; timeoutsToDown <= 5; timeoutsToDown++) {
    let h = initialHealth(T0_MS);
    for (let i = 1; i < timeoutsToDown; i++) {
      const r = observe(h, 'timeout', T0_MS + i, { timeoutsToDown });
      t.is(r.health.status, 'up', `timeout ${i} of ${timeoutsToDown}`);
      t.is(r.health.consecutiveTimeouts, i);
      t.is(r.health.sinceMs, T0_MS, 'still up since the start');
      t.is(r.changed, undefined);
      h = r.health;
    }
    const r = observe(h, 'timeout', T0_MS + 100, { timeoutsToDown });
    t.deepEqual(r.changed, { from: 'up', to: 'down' }, `threshold ${timeoutsToDown}`);
    t.deepEqual(r.health, { status: 'down', consecutiveTimeouts: 0, sinceMs: T0_MS + 100, reason: 'timeout' });
  }
});

test('failureDetector - an ok between timeouts resets the count', (t) => {
  const r = feed(initialHealth(T0_MS), ['timeout', 'ok', 'timeout', 'ok', 'timeout'], T0_MS + 1);
  t.is(r.health.status, 'up');
  t.is(r.health.consecutiveTimeouts, 1);
  t.deepEqual(r.changes, [undefined, undefined, undefined, undefined, undefined]);
  const after = observe(r.health, 'timeout', T0_MS + 10);
  t.is(after.health.status, 'down', 'the second timeout in a row counts');
});

test('failureDetector - ok brings a down peer up and reports the change', (t) => {
  const down = observe(initialHealth(T0_MS), 'no-responders', T0_MS + 5).health;
  const r = observe(down, 'ok', T0_MS + 50);
  t.deepEqual(r.changed, { from: 'down', to: 'up' });
  t.deepEqual(r.health, { status: 'up', consecutiveTimeouts: 0, sinceMs: T0_MS + 50, lastOkMs: T0_MS + 50 });
});

test('failureDetector - ok on an up peer keeps sinceMs and moves lastOkMs', (t) => {
  const r1 = observe(initialHealth(T0_MS), 'ok', T0_MS + 7);
  const r2 = observe(r1.health, 'ok', T0_MS + 9);
  t.is(r1.changed, undefined);
  t.is(r2.changed, undefined);
  t.deepEqual(r2.health, { status: 'up', consecutiveTimeouts: 0, sinceMs: T0_MS, lastOkMs: T0_MS + 9 });
});

test('failureDetector - more failures keep a down peer down since the first, with the latest reason', (t) => {
  const down = observe(observe(initialHealth(T0_MS), 'ok', T0_MS + 1).health, 'no-responders', T0_MS + 2).health;
  const r1 = observe(down, 'timeout', T0_MS + 3);
  t.is(r1.changed, undefined);
  t.deepEqual(r1.health, { status: 'down', consecutiveTimeouts: 0, sinceMs: T0_MS + 2, reason: 'timeout', lastOkMs: T0_MS + 1 });
  const r2 = observe(r1.health, 'no-responders', T0_MS + 4);
  t.is(r2.changed, undefined);
  t.is(r2.health.reason, 'no-responders');
  t.is(r2.health.sinceMs, T0_MS + 2);
});

test('failureDetector - observe does not modify the health it is given', (t) => {
  const h = initialHealth(T0_MS);
  const copy = { ...h };
  observe(h, 'timeout', T0_MS + 1);
  observe(h, 'no-responders', T0_MS + 1);
  observe(h, 'ok', T0_MS + 1);
  t.deepEqual(h, copy);
});

test('failureDetector - random runs follow the model, flag exactly the flips, and keep the invariant', (t) => {
  fc.assert(
    fc.property(runArb, ({ timeoutsToDown, steps }) => {
      let h = initialHealth(T0_MS);
      let nowMs = T0_MS;
      let expectedSinceMs = T0_MS;
      let expectedLastOkMs: number | undefined;
      let lastFailure: Outcome | undefined;
      const seen: Outcome[] = [];
      for (const [outcome, gapMs] of steps) {
        nowMs += gapMs;
        seen.push(outcome);
        const before = h.status;
        const r = observe(h, outcome, nowMs, { timeoutsToDown });
        h = r.health;
        const m = model(seen, timeoutsToDown);
        const where = `after ${JSON.stringify(seen)}, timeoutsToDown ${timeoutsToDown}`;

        t.is(h.status, m.status, where);
        // `changed` is set exactly when the status flips, and says which way.
        if (before === h.status) t.is(r.changed, undefined, where);
        else t.deepEqual(r.changed, { from: before, to: h.status }, where);

        // The invariant written on the field.
        t.true(h.consecutiveTimeouts >= 0, where);
        if (h.status === 'up') {
          t.true(h.consecutiveTimeouts < timeoutsToDown, where);
          t.is(h.consecutiveTimeouts, m.timeouts, where);
        } else t.is(h.consecutiveTimeouts, 0, where);

        // Bookkeeping: sinceMs is the time of the last flip, lastOkMs that of the last ok.
        if (before !== h.status) expectedSinceMs = nowMs;
        if (outcome === 'ok') expectedLastOkMs = nowMs;
        else lastFailure = outcome;
        t.is(h.sinceMs, expectedSinceMs, where);
        t.is(h.lastOkMs, expectedLastOkMs, where);
        // A down peer says why (the latest failure); an up one carries no stale reason.
        t.is(h.reason, h.status === 'down' ? lastFailure : undefined, where);
      }
    }),
  );
});
