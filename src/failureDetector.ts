/**
 * Local failure detection (Dynamo §4.8.3): each node keeps its own view of which peers answer,
 * fed by the outcomes of its requests and by light heartbeats. "No responders" from NATS means
 * nobody is subscribed for that peer: it is down at once. A heartbeat's timeout is weaker
 * evidence (a stalled process), so it takes `timeoutsToDown` in a row. A data request's timeout
 * (`slow`) is no evidence at all: a saturated node answers late while it is very much alive, and
 * marking it down would only move its load onto stand-ins and churn the sloppy quorum. A down peer stays in the ring;
 * it is only routed around, and probed until it answers again. Pure: `nowMs` is passed in.
 */
export type PeerStatus = 'up' | 'down';
export type Outcome = 'ok' | 'no-responders' | 'timeout' | 'slow';

export interface PeerHealth {
  readonly status: PeerStatus;
  /** Invariant: 0 <= consecutiveTimeouts < timeoutsToDown while status is 'up'. */
  readonly consecutiveTimeouts: number;
  readonly sinceMs: number;
  readonly lastOkMs?: number;
  readonly reason?: string;
}

export interface DetectorSettings {
  readonly timeoutsToDown: number;
}

export const DEFAULT_DETECTOR: DetectorSettings = { timeoutsToDown: 2 };

export function initialHealth(nowMs: number): PeerHealth {
  // Optimistic: a peer is assumed up until a request says otherwise.
  return { status: 'up', consecutiveTimeouts: 0, sinceMs: nowMs };
}

export interface Observation {
  readonly health: PeerHealth;
  /** Set when the status flipped, for the log line an operator looks for. */
  readonly changed?: { from: PeerStatus; to: PeerStatus };
}

export function observe(h: PeerHealth, outcome: Outcome, nowMs: number, settings: DetectorSettings = DEFAULT_DETECTOR): Observation {
  if (outcome === 'ok') {
    const health: PeerHealth = { status: 'up', consecutiveTimeouts: 0, sinceMs: h.status === 'up' ? h.sinceMs : nowMs, lastOkMs: nowMs };
    return h.status === 'down' ? { health, changed: { from: 'down', to: 'up' } } : { health };
  }
  if (outcome === 'slow') return { health: h };
  if (h.status === 'down') return { health: { ...h, reason: outcome } };
  const timeouts = outcome === 'timeout' ? h.consecutiveTimeouts + 1 : settings.timeoutsToDown;
  if (timeouts < settings.timeoutsToDown) return { health: { ...h, consecutiveTimeouts: timeouts } };
  return {
    health: { status: 'down', consecutiveTimeouts: 0, sinceMs: nowMs, reason: outcome, ...(h.lastOkMs !== undefined ? { lastOkMs: h.lastOkMs } : {}) },
    changed: { from: 'up', to: 'down' },
  };
}
