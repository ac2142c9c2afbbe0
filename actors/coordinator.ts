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
import type { ClusterSettings } from '../src/config.ts';
import { encodeContext } from '../src/context.ts';
import { equal, join, liveValues } from '../src/dvvset.ts';
import { DkvError, errorReply, isNoResponders, type ErrorReply } from '../src/errors.ts';
import { getReply, type GetRequest, type WriteRequest } from '../src/protocol.ts';
import { describe, quorum, record, verdict, type Quorum } from '../src/quorum.ts';
import { putReplyContext, reconcile, type StoredClock } from '../src/replica.ts';
import type { Ring } from '../src/ring.ts';
import { plan, replacement } from '../src/sloppy.ts';
import type { Subjects } from '../src/subjects.ts';
import { hintLostLogger, type HandoffMsg } from './handoff.ts';
import type { Health } from './health.ts';
import type { Outbox, ReplicaOp } from './outbox.ts';
import { logDecision } from './supervision.ts';
import type { Faults, ReplicaResult, VnodeOp } from './vnode.ts';
import type { VnodeMail } from './vnodeMail.ts';

/** Retries of a replica that timed out, before it is replaced; backoff doubles from the base. */
export const REPLICA_RETRIES_MAX = 2;
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
  /** Operations for this node's vnodes, coalesced per turn (actors/vnodeMail.ts). */
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
  /** Batch requests (the client library's pipeline) and the get/put/delete requests they held. */
  batches: number;
  batchedOps: number;
}

/** `clientDeadlineMs`: when the client stops waiting; the request never outlives it. */
export type Job =
  | { kind: 'get'; req: GetRequest; clientDeadlineMs?: number | undefined }
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

/** Delivers a message to a coordinator's mailbox. */
type Self = (msg: Msg) => void;

type Msg =
  | { type: 'replied'; node: string; result: ReplicaResult }
  | { type: 'computed'; clock: StoredClock }
  | { type: 'forwarded'; body: object; replan?: boolean }
  | { type: 'repair' }
  | { type: 'timeout' };

interface State {
  readonly quorum?: Quorum;
  readonly clocks: StoredClock[];
  /** The coordinated version, once the local replica has made it (writes only). */
  readonly written?: StoredClock;
  readonly done: boolean;
}

let sequence = 0;

export function spawnCoordinator(parentPath: string, deps: CoordinatorDeps, job: Job, respond: Respond): void {
  const { settings, nodeId, health } = deps;
  const ring = deps.ring();
  const partition = ring.partitionOf(job.req.key);
  const preference = ring.preferenceList(partition);
  const owners = preference.slice(0, settings.n);
  const isUp = (node: string) => health.isUp(node);
  // Re-planned once when every node a write was forwarded to turned out gone (see forward).
  let sloppy = plan(preference, settings.n, isUp);
  let asked = new Set(sloppy.targets);
  let hintsFor = new Map(sloppy.hints);
  let coordinateAnyway = false;
  const retries = new Map<string, number>();
  const createdMs = Date.now();
  const deadlineMs = Math.min(Date.now() + settings.requestTimeoutMs, job.clientDeadlineMs ?? Infinity);
  const needed = job.kind === 'get' ? (job.req.r ?? settings.r) : (job.req.w ?? settings.w);
  let timer: NodeJS.Timeout | undefined;
  let repairTimer: NodeJS.Timeout | undefined;
  /** What each owner answered to a read, for read repair: its version set, or null for none. */
  const ownerReplies = new Map<string, StoredClock | null>();
  let repaired = false;
  let answered = false;
  const answer = (body: object) => {
    if (answered) return;
    answered = true;
    if ('error' in body) deps.counters.failures++;
    respond(body);
  };
  if (sloppy.hints.size > 0) deps.counters.sloppy++;

  const id = ++sequence;
  /** The mailbox: messages that arrived while one was running. */
  const mailbox: Msg[] = [];
  let running = false;
  let state: State = { clocks: [], done: false };
  const stopNow = (s: State): State => {
    if (timer) clearTimeout(timer);
    if (repairTimer) clearTimeout(repairTimer);
    return { ...s, done: true };
  };
  const crashed = (err: unknown) => {
    try {
      answer(errorReply(new DkvError('internal', `coordinator crashed: ${(err as Error).message}`)));
    } catch {
      // The reply path itself failed; the log line below is all that is left to do.
    }
    logDecision(deps.log, `${parentPath}/coordinator-${job.kind}-${id}`, err, 'stop');
    mailbox.length = 0;
    state = stopNow(state);
  };
  /** Runs `first` (or the next queued message) to completion, then whatever arrived meanwhile. */
  const run = (first: (s: State) => State) => {
    running = true;
    try {
      state = first(state);
      while (mailbox.length > 0 && !state.done) state = receive(state, mailbox.shift()!);
    } catch (err) {
      crashed(err);
    } finally {
      running = false;
    }
  };
  const self: Self = (msg) => {
    if (state.done) return;
    if (running) mailbox.push(msg);
    else run((s) => receive(s, msg));
  };

  function receive(state: State, msg: Msg): State {
    if (state.done) return state;
    // A write goes on after its answer until every replica asked has settled, so that a
    // stand-in found late (the quorum was met first) still gets its copy and its hints.
    const finish = (body: object, s: State): State => {
      answer(body);
      const settled = !s.quorum || s.quorum.ok + s.quorum.failed >= s.quorum.total;
      if (job.kind !== 'get') return settled ? stopNow(s) : s;
      // A read goes on after its answer for the replicas not heard from yet, briefly, then
      // repairs the ones that were stale (Dynamo §5: read repair).
      if (settled || 'error' in body) {
        if (!('error' in body)) readRepair(self);
        return stopNow(s);
      }
      repairTimer ??= setTimeout(() => self({ type: 'repair' }), READ_REPAIR_WINDOW_MS);
      return s;
    };
    switch (msg.type) {
      case 'repair':
        readRepair(self);
        return stopNow(state);
      case 'timeout':
        // Answered already, or past the client's own deadline (it has retried): just stop.
        if (answered && job.kind === 'get') readRepair(self);
        if (answered || (job.clientDeadlineMs !== undefined && job.clientDeadlineMs <= deadlineMs)) return stopNow(state);
        answer(errorReply(new DkvError('timeout', `deadline of ${Math.round(deadlineMs - createdMs)} ms passed: ${state.quorum ? describe(state.quorum, job.kind === 'get' ? 'read' : 'write') : 'no replica answered'}`)));
        return stopNow(state);
      case 'forwarded':
        if (job.clientDeadlineMs !== undefined && Date.now() >= job.clientDeadlineMs) return stopNow(state);
        if (msg.replan) {
          // Every node it was forwarded to is gone: plan again with what was just learned, and
          // coordinate here if this node is now among the nodes to write to.
          sloppy = plan(preference, settings.n, isUp);
          asked = new Set(sloppy.targets);
          hintsFor = new Map(sloppy.hints);
          if (sloppy.targets.includes(nodeId)) {
            coordinateAnyway = true;
            ownersPending.clear();
            return start(state, self);
          }
        }
        answer(msg.body);
        return stopNow(state);
      case 'computed':
        return onComputed(state, msg.clock, self);
      case 'replied':
        return onReply(state, msg.node, msg.result, self, finish);
    }
  }

  type Ask = { op: 'read' } | { op: 'coordinate'; req: WriteRequest } | { op: 'replicate'; clock: StoredClock };

  function ask(node: string, message: Ask, self: Self): void {
    const reply = (result: ReplicaResult) => self({ type: 'replied', node, result });
    const key = job.req.key;
    if (node === nodeId) {
      const computed = (clock: StoredClock) => self({ type: 'computed', clock });
      const vnode = deps.vnode(partition);
      const selfHints = message.op === 'coordinate' ? (hintsFor.get(nodeId) ?? []) : [];
      if (vnode && selfHints.length > 0 && message.op === 'coordinate') {
        // An owner that also keeps hints (fewer reachable nodes than N): the new version goes to
        // its vnode, which is the copy the quorum counts, and to its hint store as well.
        const alsoHint = (clock: StoredClock) => {
          nact.dispatch(deps.handoff, { type: 'hint', partition, key, owners: selfHints, clock, reply: hintLostLogger(deps.log, key, selfHints, nodeId) } satisfies HandoffMsg);
          computed(clock);
        };
        return deps.vnodeMail.send(vnode, { type: 'coordinate', key, context: message.req.context, value: message.req.value, reply, computed: alsoHint });
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
      const standFor = hintsFor.get(nodeId) ?? owners.filter((o) => !isUp(o)).slice(0, 1);
      const local: HandoffMsg =
        message.op === 'read'
          ? { type: 'read', partition, key, owners, reply }
          : message.op === 'coordinate'
            ? { type: 'coordinate', partition, key, owners: standFor.length ? standFor : owners.slice(0, 1), context: message.req.context, value: message.req.value, computed, reply }
            : { type: 'hint', partition, key, owners: standFor, clock: message.clock, reply };
      return nact.dispatch(deps.handoff, local);
    }
    const hints = hintsFor.get(node);
    const op: ReplicaOp =
      message.op === 'replicate'
        ? { op: 'replicate', p: partition, k: key, c: message.clock, ...(hints?.length ? { h: [...hints] } : {}) }
        : { op: 'read', p: partition, k: key };
    // One attempt gets a slice of the deadline, so a silent replica can be retried, then replaced.
    deps.outbox.call(deps.subjects.replica(node), op, Math.min(deadlineMs, Date.now() + REPLICA_ATTEMPT_MS), reply);
  }

  function start(state: State, self: Self): State {
    if (deps.faults.coordinatorCrashes > 0) {
      deps.faults.coordinatorCrashes -= 1;
      throw new Error(`injected coordinator fault (${job.kind} of ${JSON.stringify(job.req.key)})`);
    }
    if (sloppy.targets.length < needed) {
      answer(errorReply(new DkvError('unavailable', `the cluster has ${sloppy.targets.length} nodes, ${needed} replicas required`)));
      return stopNow(state);
    }
    const q = quorum(sloppy.targets.length, needed);
    if (job.kind === 'get') {
      deps.counters.gets++;
      for (const node of sloppy.targets) ask(node, { op: 'read' }, self);
      return { ...state, quorum: q };
    }
    // Dynamo §6.4: a write is coordinated by one of the nodes that will hold it; a node that
    // receives a forwarded write coordinates it whatever its own view, so writes never bounce.
    // A stand-in coordinates only when no owner is reachable: owners version with their own
    // durable counters.
    const ownerTarget = sloppy.targets.find((x) => owners.includes(x) && isUp(x));
    const coordinatesHere = sloppy.targets.includes(nodeId) && (owners.includes(nodeId) || ownerTarget === undefined);
    if (!coordinatesHere && !job.forwarded && !coordinateAnyway) {
      deps.counters.forwardedWrites++;
      forward(job.kind, job.req, self);
      return state;
    }
    deps.counters.writes++;
    ask(nodeId, { op: 'coordinate', req: job.req }, self);
    return { ...state, quorum: q };
  }

  /** The local replica made the new version: replicate it now, while it is committed locally. */
  function onComputed(state: State, clock: StoredClock, self: Self): State {
    for (const other of asked) if (other !== nodeId) ask(other, { op: 'replicate', clock }, self);
    return { ...state, written: clock };
  }

  /**
   * A stand-in that has no copy knows nothing about the key: its "not found" is held back until
   * every owner asked has answered (Riak's notfound_ok, for stand-ins only). Otherwise, in a
   * partition, empty stand-ins could outvote the one owner that has the value.
   */
  const ownersPending = new Set(job.kind === 'get' ? owners.filter((o) => asked.has(o)) : []);
  let heldBackEmpty = 0;
  /** Why each counted failure failed, for the `unavailable` message. */
  const failedWith = new Map<string, string>();

  function onReply(state: State, node: string, result: ReplicaResult, self: Self, finish: (b: object, s: State) => State): State {
    // Any answer, even a refusal, shows the node is there: only silence counts against it.
    if (node !== nodeId) health.observe(node, !result.ok && result.unreachable ? result.unreachable : 'ok');
    if (job.kind === 'get' && result.ok && owners.includes(node)) ownerReplies.set(node, result.clock);
    if (!result.ok && node === nodeId && job.kind !== 'get' && state.written === undefined) {
      return finish(errorReply(new DkvError('internal', `the coordinating replica ${nodeId} could not write: ${result.error}`)), { ...state, quorum: undefined });
    }
    if (!result.ok && node !== nodeId && retryOrReplace(node, result, state, self)) return state;
    if (job.kind === 'get' && result.ok && !result.clock && !owners.includes(node) && ownersPending.size > 0) {
      heldBackEmpty++;
      return state;
    }
    ownersPending.delete(node);
    if (!result.ok) failedWith.set(node, result.error);
    let next = fold(state, result);
    while (ownersPending.size === 0 && heldBackEmpty > 0 && verdict(next.quorum!) === 'waiting') {
      heldBackEmpty--;
      next = fold(next, { ok: true, clock: null });
    }
    return conclude(next, finish);
  }

  function fold(state: State, result: ReplicaResult): State {
    const q = record(state.quorum!, result.ok);
    const clocks = job.kind === 'get' && result.ok && result.clock ? [...state.clocks, result.clock] : state.clocks;
    return { ...state, quorum: q, clocks };
  }

  function conclude(state: State, finish: (b: object, s: State) => State): State {
    const q = state.quorum!;
    const v = verdict(q);
    if (v === 'waiting') return state;
    const what = job.kind === 'get' ? 'read' : 'write';
    if (v === 'failed') {
      const why = [...failedWith].map(([n, e]) => `${n}: ${e}`).join('; ');
      return finish(errorReply(new DkvError('unavailable', `${describe(q, what)}${why ? ` [${why}]` : ''}`)), state);
    }
    if (job.kind === 'get') {
      const merged = reconcile(state.clocks);
      return finish(getReply(job.req.key, liveValues(merged) as Uint8Array[], encodeContext(join(merged)), job.req.encoding), state);
    }
    if (job.kind === 'delete') return finish({ ok: true }, state);
    return finish({ ok: true, context: encodeContext(putReplyContext(state.written!, job.req.context)) }, state);
  }

  /**
   * Every owner that answered with less than the reconciled version set gets it. Owners that
   * agree get nothing, so a read of consistent replicas writes nothing; an owner that did not
   * answer is left to hinted handoff and anti-entropy.
   */
  function readRepair(self: Self): void {
    if (repaired || job.kind !== 'get') return;
    repaired = true;
    const seen = [...ownerReplies.values()].filter((c): c is StoredClock => c !== null);
    if (seen.length === 0) return;
    const merged = reconcile(seen);
    const settledBefore = Date.now() - READ_REPAIR_SETTLE_MS;
    for (const [node, clock] of ownerReplies) {
      if (clock !== null && equal(clock, merged)) continue;
      // Behind only on versions made within the last moment: the write is most likely still on
      // its way to that replica, and repairing it would only write the same version twice.
      const behindOnlyOnRecent = merged.e.every(([id, counter, , t]) => (clock?.e.find((e) => e[0] === id)?.[1] ?? 0) >= counter || t > settledBefore);
      if (behindOnlyOnRecent) continue;
      deps.counters.readRepairs++;
      ask(node, { op: 'replicate', clock: merged }, self);
    }
  }

  /** True when the failed replica was asked again or replaced, so the failure is not counted. */
  function retryOrReplace(node: string, result: Extract<ReplicaResult, { ok: false }>, state: State, self: Self): boolean {
    const again: Ask = job.kind === 'get' ? { op: 'read' } : { op: 'replicate', clock: state.written! };
    if (job.kind !== 'get' && state.written === undefined) return false;
    const tried = retries.get(node) ?? 0;
    const backoffMs = RETRY_BACKOFF_MS_BASE * 2 ** tried;
    if (result.unreachable === 'timeout' && tried < REPLICA_RETRIES_MAX && deadlineMs - Date.now() > backoffMs * 2) {
      retries.set(node, tried + 1);
      deps.counters.retries++;
      setTimeout(() => ask(node, again, self), backoffMs);
      return true;
    }
    const next = replacement(preference, settings.n, asked, node, hintsFor.get(node) ?? [], isUp);
    if (!next) {
      if (job.kind !== 'get') keepOrphanedHints(node, state.written!);
      return false;
    }
    ownersPending.delete(node);
    asked.add(next.node);
    hintsFor.set(next.node, next.hints);
    deps.counters.sloppy++;
    ask(next.node, again, self);
    return true;
  }

  /**
   * Nobody is left to stand in for `failed`: the owners it stood for (and itself, if an owner)
   * would never get this write. A node already holding it keeps those hints instead. Outside the
   * quorum count, since that node has answered already; its hint store is durable on its own.
   */
  function keepOrphanedHints(failed: string, clock: StoredClock): void {
    const orphans = [...(hintsFor.get(failed) ?? []), ...(owners.includes(failed) ? [failed] : [])];
    hintsFor.delete(failed);
    const keeper = [...asked].find((x) => x !== failed && isUp(x) && !orphans.includes(x));
    if (!keeper || orphans.length === 0) return;
    const logged = hintLostLogger(deps.log, job.req.key, orphans, keeper);
    if (keeper === nodeId) {
      nact.dispatch(deps.handoff, { type: 'hint', partition, key: job.req.key, owners: orphans, clock, reply: logged } satisfies HandoffMsg);
    } else {
      deps.outbox.call(deps.subjects.replica(keeper), { op: 'replicate', p: partition, k: job.req.key, c: clock, h: orphans }, deadlineMs, logged);
    }
  }

  function forward(kind: ForwardedWrite['kind'], req: WriteRequest, self: Self): void {
    const body: ForwardedWrite = { op: 'coordinate', kind, req, clientDeadlineMs: deadlineMs };
    (async (): Promise<{ type: 'forwarded'; body: object; replan?: boolean }> => {
      let lastError: ErrorReply | undefined;
      let allGone = true;
      // Owners first: they coordinate with their own counters (see start).
      const candidates = [...sloppy.targets.filter((x) => x !== nodeId && owners.includes(x)), ...sloppy.targets.filter((x) => x !== nodeId && !owners.includes(x))];
      for (const [i, node] of candidates.entries()) {
        const remaining = deadlineMs - Date.now();
        if (remaining <= 0) break;
        // Leave time for the next candidate: one stalled node must not use up the deadline.
        const hopMs = Math.max(1, Math.floor(remaining / (candidates.length - i)));
        try {
          const reply = await deps.nc.request(deps.subjects.coordinate(node), encodeInternal(body), { timeout: hopMs });
          health.observe(node, 'ok');
          return { type: 'forwarded', body: decodeInternal<object>(reply.data) };
        } catch (err) {
          const gone = isNoResponders(err);
          allGone &&= gone;
          health.observe(node, gone ? 'no-responders' : 'timeout');
          lastError = errorReply(new DkvError('unavailable', `forwarding to ${node} failed: ${(err as Error).message}`));
        }
      }
      const failed = lastError ?? errorReply(new DkvError('timeout', 'deadline passed before the write could be forwarded'));
      return { type: 'forwarded', body: failed, replan: lastError !== undefined && allGone };
    })().then((m) => self(m));
  }

  // The deadline timer and the fan-out, in the turn the request arrived.
  timer = setTimeout(() => self({ type: 'timeout' }), Math.max(0, deadlineMs - Date.now()));
  run((s) => start(s, self));
}
