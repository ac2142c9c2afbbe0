/**
 * Background work yields to foreground requests (Dynamo §6.5): a feedback controller watches the
 * node's client operations and sets the share of its full rate that background work (transfers,
 * anti-entropy repairs, hint deliveries) may use, the allowance.
 *
 * Every window the controller asks whether the foreground is hurting: more than a tenth of the
 * client operations finished in the window took longer than the target (their p90 is above
 * it), the event loop ran late by more than its target while there were client operations to
 * serve, or admission control is half full. Hurting halves the allowance; not hurting adds a
 * tenth back (additive increase, multiplicative decrease, as TCP and Dynamo's controller do). With
 * no client operations at all, background work runs at its full rate: a node being rebuilt
 * while nobody asks anything of it is rebuilt as fast as it can be.
 *
 * The allowance never drops below BACKGROUND_ALLOWANCE_MIN: a rebuild or a hint backlog must
 * still move under sustained load, slowly.
 *
 * Pure: the node feeds it (actors/foreground.ts) and reads `allowance`.
 */

export const BACKGROUND_ALLOWANCE_MIN = 0.05;
/** How long one measurement window is. */
export const CONTROL_WINDOW_MS = 500;
/** Default foreground latency target: p90 of client operations above it counts as hurting. */
export const FOREGROUND_TARGET_MS = 50;
/** The event loop running this much late (p90 over the window) counts as hurting. */
export const EVENT_LOOP_DELAY_TARGET_MS = 25;
/** Share of the admission bound in use at which the node counts as busy. */
const OCCUPANCY_HURTING = 0.5;
/** A window with fewer client operations says little about their latency. */
const OPS_PER_WINDOW_MIN = 5;
const STEP_UP = 0.1;

export interface BackgroundControl {
  readonly targetMs: number;
  allowance: number;
  /** Client operations finished in the current window, and how many took longer than the target. */
  ops: number;
  slowOps: number;
  /** The last window's verdict, for `dkv status`. */
  last: { ops: number; slowShare: number; eventLoopP90Ms: number; occupancy: number; hurting: string | null };
}

export function backgroundControl(targetMs: number = FOREGROUND_TARGET_MS): BackgroundControl {
  if (!(targetMs > 0) || !Number.isFinite(targetMs)) throw new RangeError(`the foreground latency target must be a positive number of milliseconds, got ${targetMs}`);
  return { targetMs, allowance: 1, ops: 0, slowOps: 0, last: { ops: 0, slowShare: 0, eventLoopP90Ms: 0, occupancy: 0, hurting: null } };
}

/** A client operation finished after `ms`. */
export function observe(c: BackgroundControl, ms: number): void {
  c.ops++;
  if (ms > c.targetMs) c.slowOps++;
}

/**
 * The end of a window: the verdict, the new allowance, and a fresh window. `occupancy` is the
 * share of the admission bound in use now; `eventLoopP90Ms` how late the loop ran.
 */
export function endWindow(c: BackgroundControl, m: { eventLoopP90Ms: number; occupancy: number }): { from: number; to: number } {
  const from = c.allowance;
  const slowShare = c.ops > 0 ? c.slowOps / c.ops : 0;
  let hurting: string | null = null;
  if (c.ops >= OPS_PER_WINDOW_MIN && slowShare > 0.1) hurting = `p90 of ${c.ops} client operations above ${c.targetMs} ms`;
  else if (m.occupancy >= OCCUPANCY_HURTING) hurting = `${Math.round(m.occupancy * 100)}% of the admission bound in use`;
  else if (c.ops > 0 && m.eventLoopP90Ms > EVENT_LOOP_DELAY_TARGET_MS) hurting = `event loop ${Math.round(m.eventLoopP90Ms)} ms late while serving clients`;
  // Rounded to thousandths so that ten steps up from a half land on 1 exactly.
  const next = hurting !== null ? Math.max(BACKGROUND_ALLOWANCE_MIN, c.allowance / 2) : Math.min(1, c.allowance + STEP_UP);
  c.allowance = Math.round(next * 1000) / 1000;
  c.last = { ops: c.ops, slowShare, eventLoopP90Ms: m.eventLoopP90Ms, occupancy: m.occupancy, hurting };
  c.ops = 0;
  c.slowOps = 0;
  return { from, to: c.allowance };
}
