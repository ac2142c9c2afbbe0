import test from 'ava';
import fc from 'fast-check';
import { DEFAULT_RESTARTS_MAX, DEFAULT_RESTART_WINDOW_MS, recordCrash, restartBudget } from '../src/restartBudget.ts';

/** Crash times, non-decreasing (time only goes forward), as gaps from the previous crash. */
const scheduleArb = fc.record({
  restartsMax: fc.integer({ min: 0, max: 6 }),
  windowMs: fc.integer({ min: 1, max: 1_000 }),
  gapsMs: fc.array(fc.integer({ min: 0, max: 600 }), { maxLength: 40 }),
});

test('restartBudget - defaults are OTP-like: 10 restarts in 10 s', (t) => {
  t.deepEqual(restartBudget(), { restartsMax: DEFAULT_RESTARTS_MAX, windowMs: DEFAULT_RESTART_WINDOW_MS, crashTimesMs: [] });
  t.is(DEFAULT_RESTARTS_MAX, 10);
  t.is(DEFAULT_RESTART_WINDOW_MS, 10_000);
});

test('restartBudget - exhausted exactly when more than restartsMax crashes fall in the window', (t) => {
  fc.assert(
    fc.property(scheduleArb, ({ restartsMax, windowMs, gapsMs }) => {
      let budget = restartBudget(restartsMax, windowMs);
      const times: number[] = [];
      let now = 1_000_000;
      for (const gap of gapsMs) {
        now += gap;
        times.push(now);
        const r = recordCrash(budget, now);
        // The model: count every crash so far (this one included) less than windowMs ago.
        const inWindow = times.filter((c) => now - c < windowMs).length;
        t.is(r.exhausted, inWindow > restartsMax, `crash at ${now}: ${inWindow} in window, max ${restartsMax}`);
        t.true(r.budget.crashTimesMs.length <= restartsMax + 1);
        t.true(r.budget.crashTimesMs.every((c) => now - c < windowMs));
        t.deepEqual([...r.budget.crashTimesMs].sort((a, b) => a - b), r.budget.crashTimesMs);
        budget = r.budget;
      }
    }),
  );
});

test('restartBudget - old crashes slide out of the window', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 100_000 }), (restartsMax, windowMs) => {
      let budget = restartBudget(restartsMax, windowMs);
      // restartsMax crashes at t=0 are tolerated; one more at t=0 exhausts the budget.
      for (let i = 0; i < restartsMax; i++) {
        const r = recordCrash(budget, 0);
        t.false(r.exhausted);
        budget = r.budget;
      }
      t.true(recordCrash(budget, 0).exhausted);
      t.true(recordCrash(budget, windowMs - 1).exhausted);
      // At exactly windowMs later, every earlier crash has left the window.
      const later = recordCrash(budget, windowMs);
      t.false(later.exhausted);
      t.deepEqual(later.budget.crashTimesMs, [windowMs]);
    }),
  );
});

test('restartBudget - recordCrash is pure: the input budget is not changed', (t) => {
  const budget = recordCrash(recordCrash(restartBudget(2, 100), 0).budget, 10).budget;
  const before = structuredClone(budget);
  recordCrash(budget, 50);
  recordCrash(budget, 5_000);
  t.deepEqual(budget, before);
});

test('restartBudget - restartsMax 0 escalates on the first crash', (t) => {
  t.true(recordCrash(restartBudget(0, 1_000), 0).exhausted);
});
