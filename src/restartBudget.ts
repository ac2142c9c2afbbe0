/**
 * Restart intensity (Erlang/OTP's MaxR in MaxT): a supervisor restarts a crashed actor until
 * more than `restartsMax` crashes fall within `windowMs`, then it escalates. Pure: `now` is given.
 */
export interface RestartBudget {
  readonly restartsMax: number;
  readonly windowMs: number;
  /** Crash times inside the window, oldest first. Invariant: length <= restartsMax + 1. */
  readonly crashTimesMs: readonly number[];
}

export const DEFAULT_RESTARTS_MAX = 10;
export const DEFAULT_RESTART_WINDOW_MS = 10_000;

export function restartBudget(restartsMax = DEFAULT_RESTARTS_MAX, windowMs = DEFAULT_RESTART_WINDOW_MS): RestartBudget {
  return { restartsMax, windowMs, crashTimesMs: [] };
}

export function recordCrash(budget: RestartBudget, nowMs: number): { budget: RestartBudget; exhausted: boolean } {
  const recent = budget.crashTimesMs.filter((t) => nowMs - t < budget.windowMs);
  recent.push(nowMs);
  const kept = recent.slice(-(budget.restartsMax + 1));
  return { budget: { ...budget, crashTimesMs: kept }, exhausted: kept.length > budget.restartsMax };
}
