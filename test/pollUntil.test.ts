/**
 * Polling against a deadline (src/pollUntil.ts), on a clock the test moves: a probe that began
 * before a stall must not make the wait give up on a condition that holds by then.
 */
import test from 'ava';
import { pollUntil } from '../src/pollUntil.ts';

/** A clock that only the probes and sleeps move. */
function fakeTime() {
  let t = 0;
  return { now: () => t, advance: (ms: number) => void (t += ms), sleep: async (ms: number) => void (t += ms) };
}

test('pollUntil - a probe that fails across a stall past the deadline is asked again, and the wait ends well', async (t) => {
  const time = fakeTime();
  let probes = 0;
  const v = await pollUntil(
    async () => {
      probes++;
      if (probes === 1) {
        // Began in time, answered after a stall of 20 s: what it saw is old news.
        time.advance(20_000);
        return false;
      }
      return 'ready';
    },
    { deadlineMs: 10_000, intervalMs: 25, now: time.now, sleep: time.sleep },
  );
  t.is(v, 'ready');
  t.is(probes, 2);
});

test('pollUntil - a condition that never holds ends the wait after one probe begun past the deadline', async (t) => {
  const time = fakeTime();
  const began: number[] = [];
  const v = await pollUntil(
    () => {
      began.push(time.now());
      return false;
    },
    { deadlineMs: 100, intervalMs: 25, now: time.now, sleep: time.sleep },
  );
  t.is(v, undefined);
  t.true(began.at(-1)! > 100, `last probe began at ${began.at(-1)}`);
  t.true(began.slice(0, -1).every((x) => x <= 100), began.join(','));
});

test('pollUntil - a probe that throws ends the wait with its error', async (t) => {
  const time = fakeTime();
  await t.throwsAsync(
    pollUntil(
      () => {
        throw new Error('nats-server exited with 1');
      },
      { deadlineMs: 100, intervalMs: 25, now: time.now, sleep: time.sleep },
    ),
    { message: 'nats-server exited with 1' },
  );
});
