/**
 * The node's side of background control (src/backgroundControl.ts): a window timer, the event
 * loop's delay, and a log line when background work is held back to its floor or runs at full
 * rate again, where an operator looks for why a rebuild or a hint backlog slowed.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import type { Admission } from '../src/admission.ts';
import { BACKGROUND_ALLOWANCE_MIN, backgroundControl, CONTROL_WINDOW_MS, endWindow, observe, type BackgroundControl } from '../src/backgroundControl.ts';

export interface Foreground {
  /** A client operation finished after `ms`. */
  observe(ms: number): void;
  /** The share of full rate background work may use now, in [BACKGROUND_ALLOWANCE_MIN, 1]. */
  allowance(): number;
  figures(): { allowance: number; targetMs: number; lastWindow: BackgroundControl['last'] };
  stop(): void;
}

/** How late the event loop ran over the last window; the simulation, on virtual time, has none. */
export interface EventLoopProbe {
  p90Ms(): number;
  reset(): void;
  stop(): void;
}

export function eventLoopProbe(): EventLoopProbe {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  return {
    p90Ms: () => Math.max(0, delay.percentile(90) / 1e6 - 10), // less the sampling resolution
    reset: () => delay.reset(),
    stop: () => delay.disable(),
  };
}

export function startForeground(deps: { admission: Admission; log: Logger; clock: Clock; eventLoop: EventLoopProbe; targetMs?: number }): Foreground {
  const control = backgroundControl(deps.targetMs);
  const delay = deps.eventLoop;
  const timer = deps.clock.setInterval(() => {
    const eventLoopP90Ms = delay.p90Ms();
    delay.reset();
    const { from, to } = endWindow(control, { eventLoopP90Ms, occupancy: deps.admission.inProgress / deps.admission.opsMax });
    if (to === BACKGROUND_ALLOWANCE_MIN && from > to) {
      deps.log.info({ event: 'background-held-back', allowance: to, reason: control.last.hurting }, `background work held back to ${to * 100}% of its rate: ${control.last.hurting}`);
    } else if (to === 1 && from < 1) {
      deps.log.info({ event: 'background-full-rate', allowance: to }, 'background work back at its full rate');
    }
  }, CONTROL_WINDOW_MS);
  timer.unref?.();
  return {
    observe: (ms) => observe(control, ms),
    allowance: () => control.allowance,
    figures: () => ({ allowance: Math.round(control.allowance * 1000) / 1000, targetMs: control.targetMs, lastWindow: control.last }),
    stop: () => {
      deps.clock.clearInterval(timer);
      delay.stop();
    },
  };
}
