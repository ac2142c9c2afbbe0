/**
 * Polling a condition against a deadline, where the deadline cannot cheat a condition that holds.
 *
 * Checking the clock after a failed probe gives up on what may already be true: a probe begun
 * before a stall of the event loop (a synchronous child process, a loaded machine) reports the
 * world as it was, and the clock after the stall says the time is up. So the clock is read before
 * each probe, and only a probe that began after the deadline can end the wait.
 *
 * Pure: the clock and the pause come in as arguments (src/ has no timers of its own).
 */
export interface PollOptions {
  /** When to give up, on the `now` clock (ms). */
  readonly deadlineMs: number;
  /** Pause between probes (ms). */
  readonly intervalMs: number;
  readonly now: () => number;
  readonly sleep: (ms: number) => Promise<void>;
}

/** The probe's first answer other than `undefined` or `false`; `undefined` when none came in time. A probe's error is the caller's. */
export async function pollUntil<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, opts: PollOptions): Promise<T | undefined> {
  const { now, sleep } = opts;
  for (;;) {
    const late = now() > opts.deadlineMs;
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (late) return undefined;
    await sleep(opts.intervalMs);
  }
}
