/**
 * Time, as the actors use it: the wall clock in milliseconds and timers. Every decision that
 * depends on time reads this clock rather than Date.now(), and every timer is set through it, so
 * the simulation (test/sim/) can run the real actors on virtual time and replay a seed exactly.
 */

/** A timer set through a Clock; `unref` lets the process end while it is pending (real time only). */
export interface ClockTimer {
  unref?(): unknown;
}

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Milliseconds since an arbitrary start, finer than now() and never set back: for measuring durations. */
  monotonicMs(): number;
  setTimeout(fn: () => void, delayMs: number): ClockTimer;
  clearTimeout(timer: ClockTimer | undefined): void;
  setInterval(fn: () => void, intervalMs: number): ClockTimer;
  clearInterval(timer: ClockTimer | undefined): void;
}

/** Real time: Node's own clock and timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonicMs: () => performance.now(),
  setTimeout: (fn, delayMs) => setTimeout(fn, delayMs),
  clearTimeout: (timer) => clearTimeout(timer as NodeJS.Timeout | undefined),
  setInterval: (fn, intervalMs) => setInterval(fn, intervalMs),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout | undefined),
};
