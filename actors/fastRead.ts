/**
 * The common read without a coordinator's state machine. When every owner of the key is up, this
 * node is one of them with a complete copy, and R is at most N, a read needs none of what the
 * coordinator (actors/coordinator.ts) carries for the other cases: no sloppy quorum, stand-ins,
 * held-back empty answers, retries or replacements, and no deadline timer, since the outbox
 * answers every call (a reply, no responders, or its sweep's timeout). Profiled on a read-only
 * workload, the coordinator's sets, maps, closures, mailbox messages and two timers per read made
 * a node's reads cost twice what the benchmark's replication floor pays (docs/performance.md).
 *
 * The semantics are the coordinator's: R replies, this node's copy counting as one; the others
 * asked with its digest, so that agreeing replicas send no version set back; the answer
 * reconciled from every version set heard; read repair of each owner found behind, once every
 * owner has answered, leaving versions too recent to be out of the write's own reach. A replica
 * that fails before the answer hands the whole read to the coordinator, which asks again with
 * everything it has for failures; a failure after the answer only leaves that owner unrepaired,
 * as it does in the coordinator.
 *
 * Policy: stop, as for a coordinator: a crash answers the read `internal` (when not answered yet)
 * and is logged as a decision with the path `<gateway>/coordinator-get-<n>`.
 */
import { liveValues } from '../src/dvvset.ts';
import { readReplyBody } from './readReply.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { getReply, type GetRequest } from '../src/protocol.ts';
import { needsRepair, readContext, readDigest, reconcile, type StoredClock } from '../src/replica.ts';
import type { Hash } from '../src/merkle.ts';
import type { CoordinatorDeps, Respond } from './coordinator.ts';
import { sameAsLocal, type ReplicaResult } from './vnode.ts';
import { logDecision } from './supervision.ts';

/** The coordinator's: one replica attempt's share of the deadline, and read repair's grace. */
export interface FastReadTiming {
  readonly attemptMs: number;
  readonly repairSettleMs: number;
}

/**
 * Starts the read on the fast path and returns true, or returns false (nothing done) when the
 * read needs the coordinator. `handOver` starts the coordinator for the same read, under the
 * deadline the fast read had.
 */
export function tryFastRead(
  parentPath: string,
  deps: CoordinatorDeps,
  req: GetRequest,
  clientDeadlineMs: number | undefined,
  respond: Respond,
  handOver: (deadlineMs: number) => void,
  timing: FastReadTiming,
  nextId: () => number,
): boolean {
  const { settings, health, nodeId } = deps;
  const needed = req.r ?? settings.r;
  const ring = deps.ring();
  const partition = ring.partitionOf(req.key);
  const preference = ring.preferenceList(partition);
  const n = Math.min(settings.n, preference.length);
  if (needed > n) return false;
  let holdsKey = false;
  for (let i = 0; i < n; i++) {
    const owner = preference[i]!;
    if (owner === nodeId) holdsKey = true;
    else if (!health.isUp(owner)) return false;
  }
  if (!holdsKey) return false;
  const local = deps.localCopy(partition, req.key);
  if (local === undefined) return false;
  const nowMs = Date.now();
  const deadlineMs = Math.min(nowMs + settings.requestTimeoutMs, clientDeadlineMs ?? Infinity);
  if (deadlineMs <= nowMs) return false;
  deps.counters.gets++;
  deps.counters.fastReads++;
  new FastRead(parentPath, deps, req, partition, preference, n, needed, local, deadlineMs, respond, handOver, timing, nextId).begin();
  return true;
}

class FastRead {
  readonly #digest: Hash | undefined;
  /** Version sets heard, this node's included (null: none there), in the order they came. */
  readonly #clocks: StoredClock[] = [];
  /** Each owner's answer, for read repair. */
  readonly #owners: string[] = [];
  readonly #copies: Array<StoredClock | null> = [];
  #ok = 1;
  #pending: number;
  #answered = false;
  #done = false;

  constructor(
    private readonly parentPath: string,
    private readonly deps: CoordinatorDeps,
    private readonly req: GetRequest,
    private readonly partition: number,
    private readonly preference: readonly string[],
    private readonly n: number,
    private readonly needed: number,
    private readonly local: StoredClock | null,
    private readonly deadlineMs: number,
    private readonly respond: Respond,
    private readonly handOver: (deadlineMs: number) => void,
    private readonly timing: FastReadTiming,
    private readonly nextId: () => number,
  ) {
    this.#digest = readDigest(req.key, local);
    this.#pending = n - 1;
  }

  begin(): void {
    this.#guarded(() => {
      const { deps, req } = this;
      // The coordinators' crash switch: a fast read is a coordinator as far as it is concerned.
      if (deps.faults.coordinatorCrashes > 0) {
        deps.faults.coordinatorCrashes -= 1;
        throw new Error(`injected coordinator fault (get of ${JSON.stringify(req.key)})`);
      }
      this.#heard(deps.nodeId, this.local);
      const op = this.#digest === undefined ? { op: 'read' as const, p: this.partition, k: req.key } : { op: 'read' as const, p: this.partition, k: req.key, d: this.#digest };
      const attemptDeadlineMs = Math.min(this.deadlineMs, Date.now() + this.timing.attemptMs);
      for (let i = 0; i < this.n; i++) {
        const node = this.preference[i]!;
        if (node === deps.nodeId) continue;
        deps.outbox.call(deps.subjects.replica(node), op, attemptDeadlineMs, (result) => this.#guarded(() => this.#onReply(node, result)));
      }
      this.#maybeAnswer();
    });
  }

  #onReply(node: string, result: ReplicaResult): void {
    if (this.#done) return;
    this.#pending--;
    const { deps } = this;
    if (result.ok && result.same) {
      result = sameAsLocal(node, this.#digest !== undefined, this.local);
      deps.counters.sameReads++;
    }
    // Any answer, even a refusal, shows the node is there: only silence counts against it.
    deps.health.observe(node, !result.ok && result.unreachable ? result.unreachable : 'ok');
    if (!result.ok) {
      if (!this.#answered) {
        this.#done = true;
        deps.counters.fastReadHandovers++;
        // The coordinator counts the get as its own.
        deps.counters.gets--;
        return this.handOver(this.deadlineMs);
      }
    } else {
      this.#ok++;
      this.#heard(node, result.clock);
      this.#maybeAnswer();
    }
    if (this.#pending === 0) {
      this.#done = true;
      this.#readRepair();
    }
  }

  #heard(node: string, clock: StoredClock | null): void {
    this.#owners.push(node);
    this.#copies.push(clock);
    if (clock !== null) this.#clocks.push(clock);
  }

  #maybeAnswer(): void {
    if (this.#answered || this.#ok < this.needed) return;
    this.#answered = true;
    const merged = this.#merged();
    this.respond(readReplyBody(this.deps, 'get', () => getReply(this.req.key, liveValues(merged) as Uint8Array[], readContext(merged), this.req.encoding)));
  }

  /** Agreeing replicas all hand back this node's own copy: nothing to merge then. */
  #merged(): StoredClock {
    const clocks = this.#clocks;
    const first = clocks[0];
    return first !== undefined && clocks.every((c) => c === first) ? first : reconcile(clocks);
  }

  /** As the coordinator's #readRepair: every owner behind the reconciled set gets it. */
  #readRepair(): void {
    const copies = this.#copies;
    const first = copies[0];
    // The common case: every owner answered with this node's copy (or its digest).
    if (first !== null && first !== undefined && copies.every((c) => c === first)) return;
    if (this.#clocks.length === 0) return;
    const merged = reconcile(this.#clocks);
    const settledBefore = Date.now() - this.timing.repairSettleMs;
    const { deps, req, partition } = this;
    copies.forEach((clock, i) => {
      if (!needsRepair(clock, merged, settledBefore)) return;
      deps.counters.readRepairs++;
      const node = this.#owners[i]!;
      if (node === deps.nodeId) {
        const vnode = deps.vnode(partition);
        if (vnode) deps.vnodeMail.send(vnode, { type: 'replicate', key: req.key, clock: merged, reply: ignore });
      } else {
        deps.outbox.call(deps.subjects.replica(node), { op: 'replicate', p: partition, k: req.key, c: merged }, this.deadlineMs, ignore);
      }
    });
  }

  #guarded(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.#done = true;
      if (!this.#answered) {
        this.#answered = true;
        this.deps.counters.failures++;
        try {
          this.respond(errorReply(new DkvError('internal', `coordinator crashed: ${(err as Error).message}`)));
        } catch {
          // The reply path itself failed; the log line below is all that is left to do.
        }
      }
      logDecision(this.deps.log, `${this.parentPath}/coordinator-get-${this.nextId()}`, err, 'stop');
    }
  }
}

function ignore(): void {}
