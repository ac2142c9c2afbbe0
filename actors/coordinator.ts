/**
 * coordinator: one short-lived state machine per get/put/delete, like Riak's get/put FSM. It
 * plans a sloppy quorum (src/sloppy.ts: the first N reachable nodes of the preference list, hints
 * for the owners left out), fans out, folds each reply through src/quorum.ts, answers once and
 * stops. Replies and the deadline arrive as messages, so it never blocks on I/O.
 *
 * It is an actor without nact: a mailbox of its own that runs each message to completion, one at
 * a time, in the turn it arrives (a message sent while one is running waits for it). A nact actor
 * per request cost a spawn, and a setImmediate, a context object and a promise per message, about
 * six times per request: measured with `npm run bench` (docs/performance.md), a tenth of a node's
 * CPU. The supervision contract is unchanged: a crash is logged as a decision with the actor path
 * (`<gateway>/coordinator-<kind>-<n>`) and stops it.
 *
 * A replica that times out is asked again with backoff while the deadline allows; one that is
 * unreachable (or keeps timing out) is replaced by the next reachable node of the preference
 * list, which keeps its copy as a hint. Only when nobody is left is the failure counted.
 *
 * Policy: stop. A coordinator holds nothing worth restarting; its request is answered
 * `internal` and the client may retry.
 */
import nact from 'nact';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { plainJson } from '../src/wire.ts';
import type { ClusterSettings } from '../src/config.ts';
import { encodeContext } from '../src/context.ts';
import { liveValues } from '../src/dvvset.ts';
import { readReplyBody } from './readReply.ts';
import { DkvError, errorReply, isNoResponders, type ErrorReply } from '../src/errors.ts';
import { getReply, type GetRequest, type WriteRequest } from '../src/protocol.ts';
import { describe, quorum, record, verdict, type Quorum } from '../src/quorum.ts';
import { needsRepair, putReplyContext, readContext, readDigest, reconcile, type StoredClock } from '../src/replica.ts';
import type { Hash } from '../src/merkle.ts';
import type { Ring } from '../src/ring.ts';
import { plan, replacement, type Plan } from '../src/sloppy.ts';
import type { Subjects } from '../src/subjects.ts';
import { tryFastRead, type FastReadTiming } from './fastRead.ts';
import { hintLostLogger, type HandoffMsg } from './handoff.ts';
import type { Health } from './health.ts';
import type { Outbox, ReplicaOp } from './outbox.ts';
import { logDecision } from './supervision.ts';
import { sameAsLocal, type Faults, type Reply, type ReplicaResult, type VnodeOp } from './vnode.ts';
import type { VnodeMail } from './vnodeMail.ts';

/** Retries of a replica that timed out, before it is replaced; backoff doubles from the base. */
export const REPLICA_RETRIES_MAX = 2;
/** Messages waiting for one coordinator while it handles another (see `send`). */
export const COORDINATOR_MAILBOX_MESSAGES_MAX = 64;
const RETRY_BACKOFF_MS_BASE = 50;
/** How long one replica attempt may take before it counts as a timeout (retried or replaced). */
export const REPLICA_ATTEMPT_MS = 500;
/** How long a read waits, after answering, for the replicas not heard from, before read repair. */
const READ_REPAIR_WINDOW_MS = 200;
/** Versions younger than this are left to their own replication rather than read-repaired. */
const READ_REPAIR_SETTLE_MS = 1000;

export interface CoordinatorDeps {
  readonly nodeId: string;
  readonly settings: ClusterSettings;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly log: Logger;
  readonly counters: CoordinatorCounters;
  readonly outbox: Outbox;
  readonly health: Health;
  readonly handoff: any;
  readonly faults: Faults;
  ring(): Ring;
  vnode(partition: number): any | undefined;
  /** Reads this node's replica of the partition at once; false when it holds none (see actors/node.ts). */
  readReplica(partition: number, key: string, reply: Reply): boolean;
  /** This node's copy at once: null for none, undefined when it holds no complete replica. */
  localCopy(partition: number, key: string): StoredClock | null | undefined;
  /** Operations for this node's vnodes, run once the sender's turn is over (actors/vnodeMail.ts). */
  readonly vnodeMail: VnodeMail;
}

/** Per-node request figures, reported by `status`. */
export interface CoordinatorCounters {
  gets: number;
  writes: number;
  /** Writes this node received but does not replicate, sent on to a preference-list node. */
  forwardedWrites: number;
  /** Requests that went to a stand-in because an owner was unreachable. */
  sloppy: number;
  retries: number;
  failures: number;
  /** Replicas a read found stale and sent the reconciled version to. */
  readRepairs: number;
  /** Replica reads answered "same as your copy" instead of with a version set. */
  sameReads: number;
  /** Batch requests (the client library's pipeline) and the get/put/delete requests they held. */
  batches: number;
  batchedOps: number;
  /** Reads taken by the fast path (actors/fastRead.ts), and those it handed to a coordinator after a replica failed. */
  fastReads: number;
  fastReadHandovers: number;
}

/** `clientDeadlineMs`: when the client stops waiting; the request never outlives it. */
export type Job =
  /** `deadlineMs`: the node's own deadline, when a fast read (actors/fastRead.ts) set it before handing over. */
  | { kind: 'get'; req: GetRequest; clientDeadlineMs?: number | undefined; deadlineMs?: number }
  | { kind: 'put' | 'delete'; req: WriteRequest; forwarded: boolean; clientDeadlineMs?: number | undefined };

/** A write sent on to a node that will hold it (`internal.<node>.coordinate`, msgpack). */
export interface ForwardedWrite {
  op: 'coordinate';
  kind: 'put' | 'delete';
  req: WriteRequest;
  clientDeadlineMs?: number;
}

/** What the client is sent: a protocol reply object, or an error reply. */
export type Respond = (body: object) => void;

type Msg =
  | { type: 'replied'; node: string; result: ReplicaResult }
  | { type: 'computed'; clock: StoredClock }
  | { type: 'forwarded'; body: object; replan?: boolean }
  | { type: 'repair' }
  | { type: 'timeout' };

type Ask = { op: 'read' } | { op: 'coordinate'; req: WriteRequest } | { op: 'replicate'; clock: StoredClock };

let sequence = 0;
const nextId = (): number => ++sequence;
const FAST_READ_TIMING: FastReadTiming = { attemptMs: REPLICA_ATTEMPT_MS, repairSettleMs: READ_REPAIR_SETTLE_MS };

export function spawnCoordinator(parentPath: string, deps: CoordinatorDeps, job: Job, respond: Respond): void {
  if (job.kind === 'get') {
    // Handed over with the deadline the fast read started with: a request never outlives it.
    const handOver = (deadlineMs: number): void => new Coordinator(parentPath, deps, { ...job, deadlineMs }, respond).begin();
    if (tryFastRead(parentPath, deps, job.req, job.clientDeadlineMs, respond, handOver, FAST_READ_TIMING, nextId)) return;
  }
  new Coordinator(parentPath, deps, job, respond).begin();
}

/**
 * A class rather than closures: tsx compiles with esbuild's keepNames, which wraps every named
 * closure in a `__name` call each time it is created; a dozen per request showed in profiles.
 */
class Coordinator {
  readonly #id = nextId();
  readonly #partition: number;
  readonly #preference: readonly string[];
  readonly #owners: readonly string[];
  readonly #isUp: (node: string) => boolean;
  // Re-planned once when every node a write was forwarded to turned out gone (see #forward).
  #sloppy: Plan;
  #asked: Set<string>;
  #hintsFor: Map<string, readonly string[]>;
  #coordinateAnyway = false;
  #retries: Map<string, number> | undefined;
  readonly #createdMs = Date.now();
  readonly #deadlineMs: number;
  readonly #needed: number;
  #timer: NodeJS.Timeout | undefined;
  #repairTimer: NodeJS.Timeout | undefined;
  /** What each owner answered to a read, for read repair: its version set, or null for none. */
  readonly #ownerReplies = new Map<string, StoredClock | null>();
  #repaired = false;
  #answered = false;
  // The state proper.
  #quorum: Quorum | undefined;
  #clocks: StoredClock[] = [];
  /** The coordinated version, once the local replica has made it (writes only). */
  #written: StoredClock | undefined;
  #done = false;
  /** The mailbox: messages that arrived while one was running. */
  readonly #mailbox: Msg[] = [];
  #running = false;
  /**
   * A stand-in that has no copy knows nothing about the key: its "not found" is held back until
   * every owner asked has answered (Riak's notfound_ok, for stand-ins only). Otherwise, in a
   * partition, empty stand-ins could outvote the one owner that has the value.
   */
  readonly #ownersPending: Set<string>;
  #heldBackEmpty = 0;
  /** Why each counted failure failed, for the `unavailable` message. */
  readonly #failedWith = new Map<string, string>();
  /**
   * A read's own copy, taken before asking anyone, and its digest: the other replicas send
   * theirs only when it differs (most reads of replicas in agreement move no version set).
   */
  #localCopy: StoredClock | null | undefined;
  #localDigest: Hash | undefined;

  constructor(
    private readonly parentPath: string,
    private readonly deps: CoordinatorDeps,
    private readonly job: Job,
    private readonly respond: Respond,
  ) {
    const { settings, health } = deps;
    const ring = deps.ring();
    this.#partition = ring.partitionOf(job.req.key);
    this.#preference = ring.preferenceList(this.#partition);
    this.#owners = this.#preference.slice(0, settings.n);
    this.#isUp = (node) => health.isUp(node);
    this.#sloppy = plan(this.#preference, settings.n, this.#isUp);
    this.#asked = new Set(this.#sloppy.targets);
    this.#hintsFor = new Map(this.#sloppy.hints);
    this.#deadlineMs = (job.kind === 'get' ? job.deadlineMs : undefined) ?? Math.min(Date.now() + settings.requestTimeoutMs, job.clientDeadlineMs ?? Infinity);
    this.#needed = job.kind === 'get' ? (job.req.r ?? settings.r) : (job.req.w ?? settings.w);
    this.#ownersPending = new Set(job.kind === 'get' ? this.#owners.filter((o) => this.#asked.has(o)) : []);
    if (this.#sloppy.hints.size > 0) deps.counters.sloppy++;
  }

  /** The deadline timer and the fan-out, in the turn the request arrived. */
  begin(): void {
    this.#timer = setTimeout(() => this.send({ type: 'timeout' }), Math.max(0, this.#deadlineMs - Date.now()));
    this.#run(undefined);
  }

  /** Delivers a message: at once, or after the message being handled (one at a time). */
  send(msg: Msg): void {
    if (this.#done) return;
    if (!this.#running) return this.#run(msg);
    // Messages queue only while one is being handled, a few replies at most (N replicas,
    // retries, a timer): a mailbox past its bound means a loop, and the policy for that is stop.
    if (this.#mailbox.length >= COORDINATOR_MAILBOX_MESSAGES_MAX) return this.#crashed(new Error(`mailbox past its bound of ${COORDINATOR_MAILBOX_MESSAGES_MAX} messages`));
    this.#mailbox.push(msg);
  }

  /** Handles `first` (undefined: start), then whatever arrived meanwhile. */
  #run(first: Msg | undefined): void {
    this.#running = true;
    try {
      if (first === undefined) this.#start();
      else this.#receive(first);
      while (this.#mailbox.length > 0 && !this.#done) this.#receive(this.#mailbox.shift()!);
    } catch (err) {
      this.#crashed(err);
    } finally {
      this.#running = false;
    }
  }

  /** Policy: stop. Answer the request `internal`, log the decision with the actor path. */
  #crashed(err: unknown): void {
    try {
      this.#answer(errorReply(new DkvError('internal', `coordinator crashed: ${(err as Error).message}`)));
    } catch {
      // The reply path itself failed; the log line below is all that is left to do.
    }
    logDecision(this.deps.log, `${this.parentPath}/coordinator-${this.job.kind}-${this.#id}`, err, 'stop');
    this.#mailbox.length = 0;
    this.#stop();
  }

  #stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#repairTimer) clearTimeout(this.#repairTimer);
    this.#done = true;
  }

  #answer(body: object): void {
    if (this.#answered) return;
    this.#answered = true;
    if ('error' in body) this.deps.counters.failures++;
    this.respond(body);
  }

  #receive(msg: Msg): void {
    if (this.#done) return;
    const job = this.job;
    switch (msg.type) {
      case 'repair':
        this.#readRepair();
        return this.#stop();
      case 'timeout':
        // Answered already, or past the client's own deadline (it has retried): just stop.
        if (this.#answered && job.kind === 'get') this.#readRepair();
        if (this.#answered || (job.clientDeadlineMs !== undefined && job.clientDeadlineMs <= this.#deadlineMs)) return this.#stop();
        this.#answer(
          errorReply(new DkvError('timeout', `deadline of ${Math.round(this.#deadlineMs - this.#createdMs)} ms passed: ${this.#quorum ? describe(this.#quorum, job.kind === 'get' ? 'read' : 'write') : 'no replica answered'}`)),
        );
        return this.#stop();
      case 'forwarded':
        if (job.clientDeadlineMs !== undefined && Date.now() >= job.clientDeadlineMs) return this.#stop();
        if (msg.replan) {
          // Every node it was forwarded to is gone: plan again with what was just learned, and
          // coordinate here if this node is now among the nodes to write to.
          this.#sloppy = plan(this.#preference, this.deps.settings.n, this.#isUp);
          this.#asked = new Set(this.#sloppy.targets);
          this.#hintsFor = new Map(this.#sloppy.hints);
          if (this.#sloppy.targets.includes(this.deps.nodeId)) {
            this.#coordinateAnyway = true;
            this.#ownersPending.clear();
            return this.#start();
          }
        }
        this.#answer(msg.body);
        return this.#stop();
      case 'computed':
        return this.#onComputed(msg.clock);
      case 'replied':
        return this.#onReply(msg.node, msg.result);
    }
  }

  /**
   * A write goes on after its answer until every replica asked has settled, so that a stand-in
   * found late (the quorum was met first) still gets its copy and its hints.
   */
  #finish(body: object): void {
    this.#answer(body);
    const q = this.#quorum;
    const settled = !q || q.ok + q.failed >= q.total;
    if (this.job.kind !== 'get') {
      if (settled) this.#stop();
      return;
    }
    // A read goes on after its answer for the replicas not heard from yet, briefly, then
    // repairs the ones that were stale (Dynamo §5: read repair).
    if (settled || 'error' in body) {
      if (!('error' in body)) this.#readRepair();
      return this.#stop();
    }
    this.#repairTimer ??= setTimeout(() => this.send({ type: 'repair' }), READ_REPAIR_WINDOW_MS);
  }

  #ask(node: string, message: Ask): void {
    const { deps, job } = this;
    const partition = this.#partition;
    const nodeId = deps.nodeId;
    const key = job.req.key;
    if (node === nodeId) {
      const reply: Reply = (result) => this.send({ type: 'replied', node, result });
      if (message.op === 'read' && this.#localCopy !== undefined) return reply({ ok: true, clock: this.#localCopy });
      if (message.op === 'read' && deps.readReplica(partition, key, reply)) return;
      const computed = (clock: StoredClock) => this.send({ type: 'computed', clock });
      const vnode = deps.vnode(partition);
      const selfHints = message.op === 'coordinate' ? (this.#hintsFor.get(nodeId) ?? []) : [];
      if (vnode && selfHints.length > 0 && message.op === 'coordinate') {
        // An owner that also keeps hints (fewer reachable nodes than N): the new version goes to
        // its vnode, which is the copy the quorum counts, and to its hint store as well.
        return deps.vnodeMail.send(vnode, {
          type: 'coordinate',
          key,
          context: message.req.context,
          value: message.req.value,
          reply,
          computed: (clock) => {
            nact.dispatch(deps.handoff, { type: 'hint', partition, key, owners: selfHints, clock, reply: hintLostLogger(deps.log, key, selfHints, nodeId) } satisfies HandoffMsg);
            computed(clock);
          },
        });
      }
      if (vnode) {
        const local: VnodeOp =
          message.op === 'read'
            ? { type: 'read', key, reply }
            : message.op === 'coordinate'
              ? { type: 'coordinate', key, context: message.req.context, value: message.req.value, reply, computed }
              : { type: 'replicate', key, clock: message.clock, reply };
        return deps.vnodeMail.send(vnode, local);
      }
      // This node stands in for unreachable owners: its hint store is its replica.
      const owners = this.#owners;
      const standFor = this.#hintsFor.get(nodeId) ?? owners.filter((o) => !this.#isUp(o)).slice(0, 1);
      const local: HandoffMsg =
        message.op === 'read'
          ? { type: 'read', partition, key, owners, reply }
          : message.op === 'coordinate'
            ? { type: 'coordinate', partition, key, owners: standFor.length ? standFor : owners.slice(0, 1), context: message.req.context, value: message.req.value, computed, reply }
            : { type: 'hint', partition, key, owners: standFor, clock: message.clock, reply };
      return nact.dispatch(deps.handoff, local);
    }
    const hints = this.#hintsFor.get(node);
    const op: ReplicaOp =
      message.op === 'replicate'
        ? { op: 'replicate', p: partition, k: key, c: message.clock, ...(hints?.length ? { h: [...hints] } : {}) }
        : { op: 'read', p: partition, k: key, ...(this.#localDigest ? { d: this.#localDigest } : {}) };
    // One attempt gets a slice of the deadline, so a silent replica can be retried, then replaced.
    deps.outbox.call(deps.subjects.replica(node), op, Math.min(this.#deadlineMs, Date.now() + REPLICA_ATTEMPT_MS), (result) => this.send({ type: 'replied', node, result }));
  }

  #start(): void {
    const { deps, job } = this;
    if (deps.faults.coordinatorCrashes > 0) {
      deps.faults.coordinatorCrashes -= 1;
      throw new Error(`injected coordinator fault (${job.kind} of ${JSON.stringify(job.req.key)})`);
    }
    const targets = this.#sloppy.targets;
    if (targets.length < this.#needed) {
      this.#answer(errorReply(new DkvError('unavailable', `the cluster has ${targets.length} nodes, ${this.#needed} replicas required`)));
      return this.#stop();
    }
    const q = quorum(targets.length, this.#needed);
    if (job.kind === 'get') {
      deps.counters.gets++;
      this.#quorum = q;
      if (targets.includes(deps.nodeId)) {
        this.#localCopy = deps.localCopy(this.#partition, job.req.key);
        if (this.#localCopy !== undefined) this.#localDigest = readDigest(job.req.key, this.#localCopy);
      }
      for (const node of targets) this.#ask(node, { op: 'read' });
      return;
    }
    // Dynamo §6.4: a write is coordinated by one of the nodes that will hold it; a node that
    // receives a forwarded write coordinates it whatever its own view, so writes never bounce.
    // A stand-in coordinates only when no owner is reachable: owners version with their own
    // durable counters.
    const nodeId = deps.nodeId;
    const owners = this.#owners;
    const ownerTarget = targets.find((x) => owners.includes(x) && this.#isUp(x));
    const coordinatesHere = targets.includes(nodeId) && (owners.includes(nodeId) || ownerTarget === undefined);
    if (!coordinatesHere && !job.forwarded && !this.#coordinateAnyway) {
      deps.counters.forwardedWrites++;
      return this.#forward(job.kind, job.req);
    }
    deps.counters.writes++;
    this.#quorum = q;
    this.#ask(nodeId, { op: 'coordinate', req: job.req });
  }

  /** The local replica made the new version: replicate it now, while it is committed locally. */
  #onComputed(clock: StoredClock): void {
    for (const other of this.#asked) if (other !== this.deps.nodeId) this.#ask(other, { op: 'replicate', clock });
    this.#written = clock;
  }

  #onReply(node: string, result: ReplicaResult): void {
    const { deps, job } = this;
    if (result.ok && result.same) {
      // The same version set as this node's own copy, which was not sent back.
      result = sameAsLocal(node, this.#localDigest !== undefined, this.#localCopy ?? null);
      deps.counters.sameReads++;
    }
    const nodeId = deps.nodeId;
    // Any answer, even a refusal, shows the node is there: only silence counts against it.
    if (node !== nodeId) deps.health.observe(node, !result.ok && result.unreachable ? result.unreachable : 'ok');
    const isOwner = this.#owners.includes(node);
    if (job.kind === 'get' && result.ok && isOwner) this.#ownerReplies.set(node, result.clock);
    if (!result.ok && node === nodeId && job.kind !== 'get' && this.#written === undefined) {
      this.#quorum = undefined;
      if (result.error.startsWith('too_large: ')) return this.#finish(errorReply(new DkvError('too_large', result.error.slice('too_large: '.length))));
      if (result.error.startsWith('overloaded: ')) return this.#finish(errorReply(new DkvError('overloaded', result.error.slice('overloaded: '.length))));
      return this.#finish(errorReply(new DkvError('internal', `the coordinating replica ${nodeId} could not write: ${result.error}`)));
    }
    if (!result.ok && node !== nodeId && this.#retryOrReplace(node, result)) return;
    if (job.kind === 'get' && result.ok && !result.clock && !isOwner && this.#ownersPending.size > 0) {
      this.#heldBackEmpty++;
      return;
    }
    this.#ownersPending.delete(node);
    if (!result.ok) this.#failedWith.set(node, result.error);
    this.#fold(result);
    while (this.#ownersPending.size === 0 && this.#heldBackEmpty > 0 && verdict(this.#quorum!) === 'waiting') {
      this.#heldBackEmpty--;
      this.#fold({ ok: true, clock: null });
    }
    this.#conclude();
  }

  #fold(result: ReplicaResult): void {
    this.#quorum = record(this.#quorum!, result.ok);
    if (this.job.kind === 'get' && result.ok && result.clock) this.#clocks.push(result.clock);
  }

  #conclude(): void {
    const { job } = this;
    const q = this.#quorum!;
    const v = verdict(q);
    if (v === 'waiting') return;
    const what = job.kind === 'get' ? 'read' : 'write';
    if (v === 'failed') {
      const why = [...this.#failedWith].map(([n, e]) => `${n}: ${e}`).join('; ');
      // Replicas that refused only because they were at a bound are busy, not gone: the client
      // backs off and retries an `overloaded`, where it would give up on `unavailable`.
      const busy = this.#failedWith.size > 0 && [...this.#failedWith.values()].every((e) => e.startsWith('overloaded: '));
      return this.#finish(errorReply(new DkvError(busy ? 'overloaded' : 'unavailable', `${describe(q, what)}${why ? ` [${why}]` : ''}`)));
    }
    if (job.kind === 'get') {
      const merged = reconcile(this.#clocks);
      return this.#finish(readReplyBody(this.deps, 'get', () => getReply(job.req.key, liveValues(merged) as Uint8Array[], readContext(merged), job.req.encoding)));
    }
    if (job.kind === 'delete') return this.#finish({ ok: true });
    return this.#finish({ ok: true, context: encodeContext(putReplyContext(this.#written!, job.req.context)) });
  }

  /**
   * Every owner that answered with less than the reconciled version set gets it. Owners that
   * agree get nothing, so a read of consistent replicas writes nothing; an owner that did not
   * answer is left to hinted handoff and anti-entropy.
   */
  #readRepair(): void {
    if (this.#repaired || this.job.kind !== 'get') return;
    this.#repaired = true;
    const seen = [...this.#ownerReplies.values()].filter((c): c is StoredClock => c !== null);
    if (seen.length === 0) return;
    const merged = reconcile(seen);
    const settledBefore = Date.now() - READ_REPAIR_SETTLE_MS;
    for (const [node, clock] of this.#ownerReplies) {
      if (!needsRepair(clock, merged, settledBefore)) continue;
      this.deps.counters.readRepairs++;
      this.#ask(node, { op: 'replicate', clock: merged });
    }
  }

  /** True when the failed replica was asked again or replaced, so the failure is not counted. */
  #retryOrReplace(node: string, result: Extract<ReplicaResult, { ok: false }>): boolean {
    const { deps, job } = this;
    if (job.kind !== 'get' && this.#written === undefined) return false;
    const again: Ask = job.kind === 'get' ? { op: 'read' } : { op: 'replicate', clock: this.#written! };
    this.#retries ??= new Map();
    const tried = this.#retries.get(node) ?? 0;
    const backoffMs = RETRY_BACKOFF_MS_BASE * 2 ** tried;
    if (result.unreachable === 'timeout' && tried < REPLICA_RETRIES_MAX && this.#deadlineMs - Date.now() > backoffMs * 2) {
      this.#retries.set(node, tried + 1);
      deps.counters.retries++;
      setTimeout(() => {
        // The retry runs as its own turn, like a message: a crash in it follows the policy.
        if (!this.#done) this.#guarded(() => this.#ask(node, again));
      }, backoffMs);
      return true;
    }
    const next = replacement(this.#preference, deps.settings.n, this.#asked, node, this.#hintsFor.get(node) ?? [], this.#isUp);
    if (!next) {
      if (job.kind !== 'get') this.#keepOrphanedHints(node, this.#written!);
      return false;
    }
    this.#ownersPending.delete(node);
    this.#asked.add(next.node);
    this.#hintsFor.set(next.node, next.hints);
    deps.counters.sloppy++;
    this.#ask(next.node, again);
    return true;
  }

  #guarded(f: () => void): void {
    try {
      f();
    } catch (err) {
      this.#crashed(err);
    }
  }

  /**
   * Nobody is left to stand in for `failed`: the owners it stood for (and itself, if an owner)
   * would never get this write. A node already holding it keeps those hints instead. Outside the
   * quorum count, since that node has answered already; its hint store is durable on its own.
   */
  #keepOrphanedHints(failed: string, clock: StoredClock): void {
    const { deps, job } = this;
    const orphans = [...(this.#hintsFor.get(failed) ?? []), ...(this.#owners.includes(failed) ? [failed] : [])];
    this.#hintsFor.delete(failed);
    const keeper = [...this.#asked].find((x) => x !== failed && this.#isUp(x) && !orphans.includes(x));
    if (!keeper || orphans.length === 0) return;
    const logged = hintLostLogger(deps.log, job.req.key, orphans, keeper);
    if (keeper === deps.nodeId) {
      nact.dispatch(deps.handoff, { type: 'hint', partition: this.#partition, key: job.req.key, owners: orphans, clock, reply: logged } satisfies HandoffMsg);
    } else {
      deps.outbox.call(deps.subjects.replica(keeper), { op: 'replicate', p: this.#partition, k: job.req.key, c: clock, h: orphans }, this.#deadlineMs, logged);
    }
  }

  #forward(kind: ForwardedWrite['kind'], req: WriteRequest): void {
    const deps = this.deps;
    const nodeId = deps.nodeId;
    const deadlineMs = this.#deadlineMs;
    const owners = this.#owners;
    const targets = this.#sloppy.targets;
    const body: ForwardedWrite = { op: 'coordinate', kind, req, clientDeadlineMs: deadlineMs };
    (async (): Promise<{ type: 'forwarded'; body: object; replan?: boolean }> => {
      let lastError: ErrorReply | undefined;
      let allGone = true;
      // Owners first: they coordinate with their own counters (see #start).
      const candidates = [...targets.filter((x) => x !== nodeId && owners.includes(x)), ...targets.filter((x) => x !== nodeId && !owners.includes(x))];
      for (const [i, node] of candidates.entries()) {
        const remaining = deadlineMs - Date.now();
        if (remaining <= 0) break;
        // Leave time for the next candidate: one stalled node must not use up the deadline.
        const hopMs = Math.max(1, Math.floor(remaining / (candidates.length - i)));
        try {
          const reply = await deps.nc.request(deps.subjects.coordinate(node), encodeInternal(body), { timeout: hopMs });
          deps.health.observe(node, 'ok');
          // Relayed to the client as JSON: only JSON's types may pass (src/wire.ts).
          const answer = plainJson(decodeInternal<unknown>(reply.data));
          if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new Error('a forwarded write was answered with something other than a reply object');
          return { type: 'forwarded', body: answer };
        } catch (err) {
          const gone = isNoResponders(err);
          allGone &&= gone;
          deps.health.observe(node, gone ? 'no-responders' : 'timeout');
          lastError = errorReply(new DkvError('unavailable', `forwarding to ${node} failed: ${(err as Error).message}`));
        }
      }
      const failed = lastError ?? errorReply(new DkvError('timeout', 'deadline passed before the write could be forwarded'));
      return { type: 'forwarded', body: failed, replan: lastError !== undefined && allGone };
    })().then((m) => this.send(m));
  }
}
