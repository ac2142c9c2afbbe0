/**
 * The failure detector: this node's view of which peers answer (src/failureDetector.ts), fed by
 * every replica request's outcome and by a heartbeat actor that pings each peer. Heartbeats go
 * over a connection of their own (`nc` here is the node's liveness connection), so a peer whose
 * data connection is backed up under load still answers its pings in time: busy is not dead.
 * Coordinators read it synchronously to plan a sloppy quorum; a status flip is logged where an
 * operator looks.
 *
 * Heartbeat actor policy: reset (its state is only the next tick), within the node's restart
 * intensity like the vnodes.
 */
import nact from 'nact';
import type { Transport } from './transport.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Logger } from 'pino';
import { initialHealth, observe, type Outcome, type PeerHealth, type PeerStatus } from '../src/failureDetector.ts';
import { isNoResponders } from '../src/errors.ts';
import type { Subjects } from '../src/subjects.ts';
import { restartWithIntensity } from './supervision.ts';

export const HEARTBEAT_INTERVAL_MS = 500;
/**
 * How long a heartbeat waits for its answer before it counts as a timeout. An answer, however
 * late, proves the peer alive. Measured on this 2-core machine with a 20,000-request flood and
 * two other test clusters running: pings were answered in 150-830 ms, so the 400 ms this was
 * marked live nodes down (test/saturation.test.ts, 3 runs in 4). A stalled peer is down after two
 * timeouts in a row: about 2.5 s after it stalled. A gone one is down at once (no responders).
 */
const HEARTBEAT_TIMEOUT_MS = 2_000;
/** How late a heartbeat's timeout may be noticed and still count against the peer. */
const HEARTBEAT_LATE_MS_MAX = 100;

export class Health {
  readonly #peers = new Map<string, PeerHealth>();
  /** Peers' status flips seen by this node, by the status flipped to (the node's metrics). */
  readonly transitions: Record<PeerStatus, number> = { up: 0, down: 0 };

  constructor(
    readonly self: string,
    peers: readonly string[],
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
  ) {
    const nowMs = clock.now();
    for (const p of peers) if (p !== self) this.#peers.set(p, initialHealth(nowMs));
  }

  /** The peers to watch follow the membership view; a known peer keeps its history. */
  setPeers(peers: readonly string[], nowMs = this.clock.now()): void {
    const wanted = new Set(peers.filter((p) => p !== this.self));
    for (const p of [...this.#peers.keys()]) if (!wanted.has(p)) this.#peers.delete(p);
    for (const p of wanted) if (!this.#peers.has(p)) this.#peers.set(p, initialHealth(nowMs));
  }

  peers(): string[] {
    return [...this.#peers.keys()];
  }

  isUp(node: string): boolean {
    return node === this.self || this.#peers.get(node)?.status !== 'down';
  }

  /** A data request's outcome: its timeout says the peer is slow, not that it is gone. */
  observe(node: string, outcome: Outcome, nowMs = this.clock.now()): void {
    this.heartbeat(node, outcome === 'timeout' ? 'slow' : outcome, nowMs);
  }

  /** A heartbeat's outcome (its own connection, see spawnHeartbeat): its timeouts count. */
  heartbeat(node: string, outcome: Outcome, nowMs = this.clock.now()): void {
    const current = this.#peers.get(node);
    if (!current) return;
    const { health, changed } = observe(current, outcome, nowMs);
    this.#peers.set(node, health);
    if (changed) {
      this.transitions[changed.to]++;
      this.log[changed.to === 'down' ? 'warn' : 'info'](
        { event: 'peer-status', peer: node, from: changed.from, to: changed.to, reason: outcome },
        `peer ${node} is ${changed.to} (${outcome})`,
      );
    }
  }

  view(): Array<{ node: string } & PeerHealth> {
    return [...this.#peers].map(([node, h]) => ({ node, ...h }));
  }
}

type HeartbeatMsg = { type: 'tick' };

export function spawnHeartbeat(parent: any, deps: { nc: Transport; subjects: Subjects; health: Health; log: Logger; clock: Clock }): { stop(): void } {
  const ping = async (peer: string) => {
    const sentMs = deps.clock.monotonicMs();
    try {
      await deps.nc.request(deps.subjects.ping(peer), new Uint8Array(0), { timeout: HEARTBEAT_TIMEOUT_MS });
      deps.health.heartbeat(peer, 'ok');
    } catch (err) {
      if (isNoResponders(err)) return deps.health.heartbeat(peer, 'no-responders');
      // A timeout noticed well after it was due means this node's own event loop was held up:
      // the answer may be waiting unread. That says nothing about the peer.
      const lateMs = deps.clock.monotonicMs() - sentMs - HEARTBEAT_TIMEOUT_MS;
      deps.health.heartbeat(peer, lateMs > HEARTBEAT_LATE_MS_MAX ? 'slow' : 'timeout');
    }
  };
  const ref = nact.spawn(
    parent,
    (state: null, _msg: HeartbeatMsg) => {
      for (const p of deps.health.peers()) void ping(p);
      return state;
    },
    'heartbeat',
    { initialState: null, onCrash: restartWithIntensity<HeartbeatMsg>(deps.log, { now: () => deps.clock.now() }) },
  );
  const timer = deps.clock.setInterval(() => nact.dispatch(ref, { type: 'tick' }), HEARTBEAT_INTERVAL_MS);
  timer.unref?.();
  return { stop: () => deps.clock.clearInterval(timer) };
}
