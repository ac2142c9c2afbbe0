/**
 * Virtual time for the simulation: the actors read `now()` and set timers through the Clock seam
 * (actors/clock.ts), and here nothing happens until the scheduler fires the next timer, which
 * moves `now` forward to its due time. Hours of cluster time run in milliseconds, and the same
 * seed fires the same timers at the same virtual instants.
 */
import type { Clock, ClockTimer } from '../../actors/clock.ts';
import { sequence, TimedQueue, type Timed } from './queue.ts';

/** Node's own bounds: a delay below 1 ms or above this is set to 1 ms (node:timers). */
const TIMER_DELAY_MAX_MS = 2_147_483_647;

export class VirtualTimer implements ClockTimer, Timed {
  dueMs: number;
  seq: number;
  cancelled = false;
  constructor(
    readonly id: number,
    readonly fn: () => void,
    dueMs: number,
    seq: number,
    /** Set for an interval: re-armed this far after each firing. */
    readonly intervalMs: number | undefined,
  ) {
    this.dueMs = dueMs;
    this.seq = seq;
  }

  /** Virtual timers never hold a process open; kept so code written for Node's timers runs unchanged. */
  unref(): this {
    return this;
  }
}

export interface VirtualClockOptions {
  /** The tie-break sequence; the simulation shares one with the bus (see queue.ts). */
  nextSeq?: () => number;
  /** A timer's callback threw: reported here and the run goes on, as one crashed actor would not stop a node. */
  onTimerError?: (err: unknown, timer: VirtualTimer) => void;
  /** Every firing, for the simulation's trace. */
  onFire?: (timer: VirtualTimer) => void;
}

export class VirtualClock implements Clock {
  #nowMs: number;
  readonly #epochMs: number;
  readonly #queue = new TimedQueue<VirtualTimer>();
  readonly #nextSeq: () => number;
  readonly #options: VirtualClockOptions;
  #active = 0;
  #ids = 0;
  /** Counts every set, clear and firing: the scheduler's settle watches it to tell when the host is quiet. */
  changes = 0;

  constructor(epochMs: number, options: VirtualClockOptions = {}) {
    this.#nowMs = epochMs;
    this.#epochMs = epochMs;
    this.#options = options;
    this.#nextSeq = options.nextSeq ?? sequence();
  }

  now(): number {
    return this.#nowMs;
  }

  /** Virtual ms since this clock started; virtual time never goes back, so durations measured on it never go negative. */
  monotonicMs(): number {
    return this.#nowMs - this.#epochMs;
  }

  setTimeout(fn: () => void, delayMs: number): VirtualTimer {
    return this.#arm(fn, delayMs, undefined);
  }

  setInterval(fn: () => void, intervalMs: number): VirtualTimer {
    return this.#arm(fn, intervalMs, normalizeDelay(intervalMs));
  }

  clearTimeout(timer: ClockTimer | undefined): void {
    if (!(timer instanceof VirtualTimer) || timer.cancelled) return;
    timer.cancelled = true;
    this.#active--;
    this.changes++;
  }

  clearInterval(timer: ClockTimer | undefined): void {
    this.clearTimeout(timer);
  }

  /** Timers set and not yet fired or cleared (an interval counts once). */
  pending(): number {
    return this.#active;
  }

  /** The earliest live timer's due time and sequence, or undefined when none is set. */
  nextDue(): VirtualTimer | undefined {
    // Cleared timers stay in the heap until they reach the top; drop them here.
    while (this.#queue.peek()?.cancelled) this.#queue.pop();
    return this.#queue.peek();
  }

  nextDueMs(): number | undefined {
    return this.nextDue()?.dueMs;
  }

  /** Moves time forward without firing anything (the bus does this before a delivery). */
  advanceTo(ms: number): void {
    if (ms < this.#nowMs) throw new Error(`VirtualClock: time cannot go back from ${this.#nowMs} to ${ms}`);
    this.#nowMs = ms;
  }

  /** Advances `now` to the earliest timer and runs it; false when no timer is set. */
  fireNext(): boolean {
    const timer = this.nextDue();
    if (!timer) return false;
    this.#queue.pop();
    this.advanceTo(timer.dueMs);
    this.changes++;
    if (timer.intervalMs === undefined) {
      timer.cancelled = true;
      this.#active--;
    }
    this.#options.onFire?.(timer);
    try {
      timer.fn();
    } catch (err) {
      this.#options.onTimerError?.(err, timer);
    }
    // Re-armed after the callback, as Node does, unless the callback cleared it.
    if (timer.intervalMs !== undefined && !timer.cancelled) {
      timer.dueMs = this.#nowMs + timer.intervalMs;
      timer.seq = this.#nextSeq();
      this.#queue.push(timer);
    }
    return true;
  }

  #arm(fn: () => void, delayMs: number, intervalMs: number | undefined): VirtualTimer {
    const timer = new VirtualTimer(++this.#ids, fn, this.#nowMs + normalizeDelay(delayMs), this.#nextSeq(), intervalMs);
    this.#queue.push(timer);
    this.#active++;
    this.changes++;
    return timer;
  }
}

/** As node:timers: out-of-range or non-numeric delays become 1 ms; whole milliseconds keep `now()` an integer like Date.now(). */
function normalizeDelay(delayMs: number): number {
  const d = Math.trunc(Number(delayMs));
  return d >= 1 && d <= TIMER_DELAY_MAX_MS ? d : 1;
}
