import test from 'ava';
import fc from 'fast-check';
import { BACKGROUND_ALLOWANCE_MIN, backgroundControl, endWindow, observe } from '../src/backgroundControl.ts';

const calm = { eventLoopP90Ms: 0, occupancy: 0 };

test('backgroundControl - slow client operations halve the allowance down to its floor; calm windows give it back a tenth at a time', (t) => {
  const c = backgroundControl(50);
  for (let i = 0; i < 20; i++) observe(c, i < 15 ? 5 : 80); // 25% over the target: p90 is above it
  t.deepEqual(endWindow(c, calm), { from: 1, to: 0.5 });
  t.regex(c.last.hurting ?? '', /p90 of 20 client operations above 50 ms/);
  for (let w = 0; w < 10; w++) {
    for (let i = 0; i < 10; i++) observe(c, 200);
    endWindow(c, calm);
  }
  t.is(c.allowance, BACKGROUND_ALLOWANCE_MIN, 'never below the floor: a rebuild still moves');
  for (let i = 0; i < 10; i++) observe(c, 3);
  endWindow(c, calm);
  t.is(c.last.hurting, null);
  t.is(c.allowance, 0.15);
});

test('backgroundControl - with no client operations background work runs at full rate, whatever the event loop does', (t) => {
  const c = backgroundControl(50);
  c.allowance = 0.2;
  for (let w = 0; w < 8; w++) endWindow(c, { eventLoopP90Ms: 300, occupancy: 0 });
  t.is(c.allowance, 1);
});

test('backgroundControl - a late event loop while serving clients, or a half-full admission bound, hold background work back', (t) => {
  const c = backgroundControl(50);
  observe(c, 1);
  endWindow(c, { eventLoopP90Ms: 40, occupancy: 0 });
  t.is(c.allowance, 0.5);
  t.regex(c.last.hurting ?? '', /event loop 40 ms late/);
  endWindow(c, { eventLoopP90Ms: 0, occupancy: 0.75 });
  t.is(c.allowance, 0.25);
  t.regex(c.last.hurting ?? '', /75% of the admission bound/);
  // A few slow operations out of many are the tail, not the body: p90 is under the target.
  for (let i = 0; i < 100; i++) observe(c, i < 5 ? 500 : 2);
  endWindow(c, calm);
  t.is(c.last.hurting, null);
});

test('backgroundControl - property: the allowance stays in [floor, 1] and moves only as the verdict says', (t) => {
  const window = fc.record({
    latencies: fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 40 }),
    eventLoopP90Ms: fc.integer({ min: 0, max: 200 }),
    occupancy: fc.double({ min: 0, max: 1, noNaN: true }),
  });
  fc.assert(
    fc.property(fc.array(window, { maxLength: 30 }), (windows) => {
      const c = backgroundControl(50);
      for (const w of windows) {
        for (const ms of w.latencies) observe(c, ms);
        const { from, to } = endWindow(c, w);
        if (to < BACKGROUND_ALLOWANCE_MIN || to > 1) return false;
        if (c.last.hurting !== null ? to > from : to < from) return false;
        if (c.ops !== 0 || c.slowOps !== 0) return false;
      }
      return true;
    }),
  );
  t.throws(() => backgroundControl(0), { instanceOf: RangeError });
});
