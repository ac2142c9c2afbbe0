/**
 * The rules of a put or delete (Riak's riak_kv_put_core), as a deterministic state machine that
 * the coordinator (actors/coordinator.ts) starts with `startWrite`, feeds with `stepWrite`, and
 * whose effects it performs. The state belongs to one request and is updated in place.
 *
 * Dynamo §6.4: a write is coordinated by one of the nodes that will hold it: this node makes the
 * new version on its own replica (`coordinate`), then replicates it to the others of the sloppy
 * plan, each stand-in with the hints of the owners it keeps a copy for. A node that is not among
 * them forwards the write (owners first); a node that receives a forwarded write coordinates it
 * whatever its own view, so writes never bounce. A stand-in coordinates only when no owner is
 * reachable: owners version with their own durable counters.
 *
 * A replica that times out is asked again with backoff while the deadline allows; one that is
 * unreachable is replaced by the next node of the preference list, which keeps its copy as a
 * hint; when nobody is left, a node already holding the write keeps the hints of the owners that
 * would otherwise never get it (orphaned hints). A write goes on after its answer until every
 * replica asked has settled, so that a stand-in found late still gets its copy.
 */
import { encodeContext } from './context.ts';
import { DkvError, errorReply } from './errors.ts';
import { describe, quorum, recordInPlace, verdict } from './quorum.ts';
import { putReplyContext, type StoredClock } from './replica.ts';
import type { ReplicaResult } from './replicaResult.ts';
import { COUNT, fanout, localRefusal, quorumFailed, onFailedReplica, REPLICA_ATTEMPT_MS, standsFor, type Effect, type Fanout, type IsUp } from './requestCore.ts';
import type { VersionVector } from './versionVector.ts';

export interface WriteSetup {
  readonly self: string;
  readonly kind: 'put' | 'delete';
  readonly preference: readonly string[];
  readonly n: number;
  /** W: the acknowledgements that make the write, this node's own included. */
  readonly needed: number;
  readonly deadlineMs: number;
  readonly clientDeadlineMs: number | undefined;
  /** Sent on by another node: coordinated here whatever this node's view. */
  readonly forwarded: boolean;
  /** The client's context, for the put's reply context. */
  readonly context: VersionVector | undefined;
  readonly isUp: IsUp;
  /** This node runs sync mode `one`: one replica of the write is stored durably (see `durable`). */
  readonly durableOne?: boolean;
}

export type WriteEvent =
  | { readonly type: 'computed'; readonly clock: StoredClock; readonly actor?: string | undefined }
  | { readonly type: 'replied'; readonly node: string; readonly round: number; readonly result: ReplicaResult }
  /** `replan`: every node it was forwarded to is gone (no responders). */
  | { readonly type: 'forwarded'; readonly body: object; readonly replan: boolean }
  | { readonly type: 'timeout' }
  | { readonly type: 'retry'; readonly node: string };

export interface WriteState {
  readonly setup: WriteSetup;
  readonly createdMs: number;
  fan: Fanout;
  /** The tally, counted in place (recordInPlace); undefined until this node coordinates. */
  quorum: { total: number; needed: number; ok: number; failed: number } | undefined;
  /** The coordinated version, once this node's replica has made it. */
  written: StoredClock | undefined;
  /** The actor id `written`'s new version carries (its coordinating replica's), once computed. */
  writtenBy: string | undefined;
  /** Forwarded, then found that every node it went to is gone: coordinated here after all. */
  coordinateAnyway: boolean;
  failedWith: Array<[string, string]>;
  /**
   * Sync mode `one` (Dynamo §6.1's "durable write"): the replica asked to fsync its copy before
   * acknowledging, and whether it has. The coordinator itself when it holds a replica (no extra
   * hop), else the first owner asked that is up, else (none is) the coordinator standing in. The
   * write is answered only once W acks include this one, so an acknowledged write is on one disk;
   * the paper's coordinator does not wait for it (see docs/paper/README.md, Fig. 5). A retry asks
   * the same node again with the mark, and a replacement takes it over: a stand-in fsyncs the
   * hints it keeps. Only when the marked node fails with nobody to replace it is the mark
   * dropped: the others were asked without it, so W buffered acks make the write, as in
   * `periodic`.
   */
  durable: string | undefined;
  durableAcked: boolean;
  answered: boolean;
  done: boolean;
}

export function startWrite(setup: WriteSetup, nowMs: number): { state: WriteState; effects: Effect[] } {
  const s: WriteState = {
    setup,
    createdMs: nowMs,
    fan: fanout(setup.preference, setup.n, setup.isUp),
    quorum: undefined,
    written: undefined,
    writtenBy: undefined,
    coordinateAnyway: false,
    failedWith: [],
    durable: undefined,
    durableAcked: false,
    answered: false,
    done: false,
  };
  const effects: Effect[] = [];
  if (s.fan.hintsFor.size > 0) effects.push(COUNT.sloppy);
  effects.push({ type: 'schedule', timer: 'timeout', atMs: setup.deadlineMs });
  begin(s, effects);
  return { state: s, effects };
}

function begin(s: WriteState, effects: Effect[]): void {
  const { setup, fan } = s;
  const targets = fan.asked;
  if (targets.length < setup.needed) {
    answer(s, errorReply(new DkvError('unavailable', `the cluster has ${targets.length} nodes, ${setup.needed} replicas required`)), effects);
    return stop(s, effects);
  }
  const { self } = setup;
  const owners = fan.owners;
  const ownerTarget = targets.find((x) => owners.includes(x) && fan.isUp(x));
  const coordinatesHere = targets.includes(self) && (owners.includes(self) || ownerTarget === undefined);
  if (!coordinatesHere && !setup.forwarded && !s.coordinateAnyway) {
    effects.push(COUNT.forwardedWrites);
    // Owners first: they coordinate with their own counters.
    const candidates = [...targets.filter((x) => x !== self && owners.includes(x)), ...targets.filter((x) => x !== self && !owners.includes(x))];
    effects.push({ type: 'forward', candidates, deadlineMs: setup.deadlineMs });
    return;
  }
  effects.push(COUNT.writes);
  // Coordinating from outside the plan (a write forwarded by a node with another view): this
  // node's copy is one more replica. Counted among those asked, it is never picked again as a
  // replacement, which would count one node twice and stop before a retried owner had its copy.
  if (!targets.includes(self)) targets.push(self);
  s.quorum = quorum(targets.length, setup.needed);
  // Not an owner that is down: the plan fills up to N with nodes it cannot reach, in case.
  if (setup.durableOne) s.durable = owners.includes(self) ? self : (ownerTarget ?? self);
  // An owner that also keeps hints (fewer reachable nodes than N) writes to its vnode, the copy
  // the quorum counts, and to its hint store as well.
  effects.push({ type: 'coordinate', round: 0, hints: fan.hintsFor.get(self) ?? [], standFor: coordinateStandFor(s), ...(s.durable === self ? DURABLE : {}) });
}

/** A stand-in coordinating (no owner reachable) keeps the copy for at least one owner. */
function coordinateStandFor(s: WriteState): readonly string[] {
  const standFor = standsFor(s.fan, s.setup.self);
  return standFor.length > 0 ? standFor : s.fan.owners.slice(0, 1);
}

export function stepWrite(s: WriteState, ev: WriteEvent, nowMs: number): Effect[] {
  const effects: Effect[] = [];
  if (s.done) return effects;
  switch (ev.type) {
    case 'computed':
      // Replicated now, while it is committed locally.
      s.written = ev.clock;
      s.writtenBy = ev.actor;
      for (const node of s.fan.asked) if (node !== s.setup.self) effects.push(replicateOf(s, node, nowMs));
      return effects;
    case 'retry':
      effects.push(replicateOf(s, ev.node, nowMs));
      return effects;
    case 'replied':
      onReply(s, ev.node, ev.result, nowMs, effects);
      return effects;
    case 'forwarded':
      onForwarded(s, ev.body, ev.replan, nowMs, effects);
      return effects;
    case 'timeout': {
      // Answered already, or past the client's own deadline (it has retried): just stop.
      const clientGone = s.setup.clientDeadlineMs !== undefined && s.setup.clientDeadlineMs <= s.setup.deadlineMs;
      if (!s.answered && !clientGone) {
        const tookMs = Math.round(s.setup.deadlineMs - s.createdMs);
        answer(s, errorReply(new DkvError('timeout', `deadline of ${tookMs} ms passed: ${s.quorum ? describe(s.quorum, 'write') : 'no replica answered'}`)), effects);
      }
      stop(s, effects);
      return effects;
    }
  }
}

function replicateOf(s: WriteState, node: string, nowMs: number): Effect {
  // One attempt gets a slice of the deadline, so a silent replica can be retried, then replaced.
  const deadlineMs = Math.min(s.setup.deadlineMs, nowMs + REPLICA_ATTEMPT_MS);
  const hints = node === s.setup.self ? standsFor(s.fan, node) : (s.fan.hintsFor.get(node) ?? []);
  return { type: 'replicate', node, round: 0, clock: s.written!, hints, deadlineMs, ...(node === s.durable ? DURABLE : {}) };
}

const DURABLE = { durable: true } as const;

function onForwarded(s: WriteState, body: object, replan: boolean, nowMs: number, effects: Effect[]): void {
  const { setup } = s;
  if (setup.clientDeadlineMs !== undefined && nowMs >= setup.clientDeadlineMs) return stop(s, effects);
  if (replan) {
    // Every node it was forwarded to is gone: plan again with what was just learned, and
    // coordinate here if this node is now among the nodes to write to.
    s.fan = fanout(setup.preference, setup.n, setup.isUp);
    if (s.fan.asked.includes(setup.self)) {
      s.coordinateAnyway = true;
      return begin(s, effects);
    }
  }
  answer(s, body, effects);
  stop(s, effects);
}

function onReply(s: WriteState, node: string, result: ReplicaResult, nowMs: number, effects: Effect[]): void {
  const { self } = s.setup;
  if (!result.ok && node === self && s.written === undefined) {
    // This node could not make the version: nothing was written anywhere.
    s.quorum = undefined;
    const refusal = localRefusal(result.error, self);
    answer(s, errorReply(new DkvError(refusal.code, refusal.message)), effects);
    return stop(s, effects);
  }
  if (s.quorum === undefined) return;
  // The vnode computes the version before it acknowledges storing it; the other way round, the
  // reply context would be made of nothing.
  if (result.ok && node === self && s.written === undefined) throw new Error(`invariant: ${self} acknowledged a write it had not computed`);
  if (!result.ok && node !== self && s.written !== undefined) {
    const next = onFailedReplica(s.fan, node, result.unreachable, nowMs, s.setup.deadlineMs);
    if (next?.kind === 'retry') {
      effects.push(COUNT.retries, { type: 'schedule', timer: 'retry', atMs: next.atMs, node });
      return;
    }
    if (next?.kind === 'replace') {
      if (node === s.durable) s.durable = next.node;
      effects.push(COUNT.sloppy, replicateOf(s, next.node, nowMs));
      return;
    }
    keepOrphanedHints(s, node, nowMs, effects);
  }
  if (node === s.durable) {
    if (result.ok) s.durableAcked = true;
    else s.durable = undefined;
  }
  if (!result.ok) s.failedWith.push([node, result.error]);
  recordInPlace(s.quorum, result.ok);
  const v = verdict(s.quorum);
  if (v === 'waiting' || (v === 'met' && s.durable !== undefined && !s.durableAcked)) return;
  if (v === 'failed') {
    answer(s, quorumFailed(s.quorum, 'write', s.failedWith), effects);
  } else {
    if (!s.answered) effects.push({ type: 'changed', clock: s.written! });
    if (s.setup.kind === 'delete') answer(s, { ok: true }, effects);
    else {
      // Names this node for the next write when it is an owner (Dynamo §6.4; src/context.ts): it
      // holds what it just wrote. A stand-in names none: owners version with their own counters.
      const coordinator = s.fan.owners.includes(s.setup.self) ? s.setup.self : undefined;
      answer(s, { ok: true, context: encodeContext(putReplyContext(s.written!, s.setup.context, s.writtenBy), coordinator) }, effects);
    }
  }
  // Goes on after its answer until every replica asked has settled (see the header).
  if (s.quorum.ok + s.quorum.failed >= s.quorum.total) stop(s, effects);
}

/**
 * Nobody is left to stand in for `failed`: the owners it stood for (and itself, if an owner)
 * would never get this write. A node already holding it keeps those hints instead. Outside the
 * quorum count, since that node has answered already; its hint store is durable on its own.
 */
function keepOrphanedHints(s: WriteState, failed: string, nowMs: number, effects: Effect[]): void {
  const fan = s.fan;
  const orphans = [...(fan.hintsFor.get(failed) ?? []), ...(fan.owners.includes(failed) ? [failed] : [])];
  fan.hintsFor.delete(failed);
  const keeper = fan.asked.find((x) => x !== failed && fan.isUp(x) && !orphans.includes(x));
  if (keeper === undefined || orphans.length === 0) return;
  effects.push({ type: 'keepHints', node: keeper, owners: orphans, clock: s.written!, deadlineMs: s.setup.deadlineMs });
}

function answer(s: WriteState, body: object, effects: Effect[]): void {
  if (s.answered) return;
  s.answered = true;
  effects.push({ type: 'answer', body });
}

function stop(s: WriteState, effects: Effect[]): void {
  s.done = true;
  effects.push({ type: 'stop' });
}
