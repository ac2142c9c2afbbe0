/**
 * The rules of a get (Riak's riak_kv_get_core): a deterministic state machine that the
 * coordinator (actors/coordinator.ts) starts with `startGet`, feeds with `stepGet`, and whose
 * effects it performs. The state belongs to one request and `stepGet` updates it in place:
 * copying it on every reply cost more than the rules themselves on the read path.
 *
 * Two starting states, one set of rules:
 * - **fast**: every owner is up, this node is one of them with a complete copy, and R <= N. It
 *   asks the other owners with its copy's digest (agreeing replicas send no version set back),
 *   sets no timer (the outbox answers every attempt by its deadline) and repairs once every
 *   owner has answered. A replica that fails before the answer turns it into a full read, under
 *   the deadline it started with: the full rules know what to do about failures.
 * - **full**: the sloppy plan (the first N reachable nodes, src/sloppy.ts), retry or replace on
 *   failure, a stand-in's "not found" held back until every owner asked has answered (Riak's
 *   notfound_ok, for stand-ins only: otherwise, in a partition, empty stand-ins could outvote the
 *   one owner that has the value), a deadline, and read repair a short while after the answer.
 */
import { DkvError, errorReply } from './errors.ts';
import type { Hash } from './merkle.ts';
import { describe, quorum, recordInPlace, verdict } from './quorum.ts';
import { needsRepair, readDigest, reconcile, type StoredClock } from './replica.ts';
import { sameAsLocal, type ReplicaResult } from './replicaResult.ts';
import {
  fanout,
  quorumFailed,
  onFailedReplica,
  READ_REPAIR_SETTLE_MS,
  READ_REPAIR_WINDOW_MS,
  REPLICA_ATTEMPT_MS,
  standsFor,
  COUNT,
  type Effect,
  type Fanout,
  type IsUp,
} from './requestCore.ts';

export interface GetSetup {
  readonly self: string;
  readonly key: string;
  readonly preference: readonly string[];
  /** The cluster's N. */
  readonly n: number;
  /** R: the replies that make the read. */
  readonly needed: number;
  /** When the node stops working on it: its request timeout, or the client's deadline if sooner. */
  readonly deadlineMs: number;
  /** When the client stops waiting, if it said so. */
  readonly clientDeadlineMs: number | undefined;
  /** This node's copy, read at the start: null for none, undefined when it holds no complete replica. */
  readonly local: StoredClock | null | undefined;
  readonly isUp: IsUp;
}

export type GetEvent =
  | { readonly type: 'replied'; readonly node: string; readonly round: number; readonly result: ReplicaResult }
  | { readonly type: 'timeout' }
  | { readonly type: 'repair' }
  | { readonly type: 'retry'; readonly node: string };

export interface GetState {
  readonly setup: GetSetup;
  mode: 'fast' | 'full';
  /** Replies of an earlier round (a fast start left behind) are ignored. */
  round: number;
  readonly createdMs: number;
  /** Full reads: the replicas asked. */
  fan: Fanout | undefined;
  /** This node's copy as one of the replies, and its digest sent along; undefined when not used. */
  local: StoredClock | null | undefined;
  digest: Hash | undefined;
  /** The tally, counted in place (recordInPlace). Invariant: ok + failed <= total. */
  quorum: { total: number; needed: number; ok: number; failed: number };
  /** Version sets heard, in the order they came. */
  clocks: StoredClock[];
  /**
   * Each owner's answer (null: it had none), for read repair and, the first, to coordinate the
   * next write; in the order they came. Invariant: same length.
   */
  ownerNodes: string[];
  ownerCopies: Array<StoredClock | null>;
  /** Full reads: owners asked that have not answered, while stand-ins' empties are held back. */
  ownersPending: string[];
  heldBackEmpty: number;
  /** Fast reads: replies still to come. */
  pending: number;
  failedWith: Array<[string, string]>;
  answered: boolean;
  repaired: boolean;
  repairScheduled: boolean;
  done: boolean;
}

/** Frozen: a fast read that pushed to a full read's list would throw, not share it. */
const NONE = Object.freeze([]) as unknown as never[];

export function startGet(setup: GetSetup, nowMs: number): { state: GetState; effects: Effect[] } {
  const { preference, self, needed, isUp } = setup;
  const n = Math.min(setup.n, preference.length);
  const s: GetState = {
    setup,
    mode: 'fast',
    round: 0,
    createdMs: nowMs,
    fan: undefined,
    local: undefined,
    digest: undefined,
    quorum: { total: n, needed, ok: 0, failed: 0 },
    clocks: [],
    ownerNodes: [],
    ownerCopies: [],
    // Full reads only (startFull makes its own): a fast read never touches them.
    ownersPending: NONE,
    heldBackEmpty: 0,
    pending: 0,
    failedWith: NONE,
    answered: false,
    repaired: false,
    repairScheduled: false,
    done: false,
  };
  const effects: Effect[] = [COUNT.gets];
  if (isFast(setup, n, nowMs)) {
    effects.push(COUNT.fastReads);
    s.local = setup.local;
    s.digest = readDigest(setup.key, setup.local!);
    s.pending = n - 1;
    const deadlineMs = Math.min(setup.deadlineMs, nowMs + REPLICA_ATTEMPT_MS);
    for (let i = 0; i < n; i++) {
      const node = preference[i]!;
      if (node !== self) effects.push({ type: 'read', node, round: 0, digest: s.digest, deadlineMs });
    }
    fold(s, self, { ok: true, clock: setup.local! }, true);
    concludeFast(s, nowMs, effects);
    return { state: s, effects };
  }
  startFull(s, nowMs, effects);
  return { state: s, effects };
}

/** The fast start's conditions (see the header). */
function isFast(setup: GetSetup, n: number, nowMs: number): boolean {
  if (setup.needed > n || setup.local === undefined || setup.deadlineMs <= nowMs) return false;
  let holdsKey = false;
  for (let i = 0; i < n; i++) {
    const owner = setup.preference[i]!;
    if (owner === setup.self) holdsKey = true;
    else if (!setup.isUp(owner)) return false;
  }
  return holdsKey;
}

function startFull(s: GetState, nowMs: number, effects: Effect[]): void {
  const { setup } = s;
  const fan = fanout(setup.preference, setup.n, setup.isUp);
  s.fan = fan;
  s.mode = 'full';
  if (fan.hintsFor.size > 0) effects.push(COUNT.sloppy);
  effects.push({ type: 'schedule', timer: 'timeout', atMs: setup.deadlineMs });
  const targets = fan.asked;
  if (targets.length < setup.needed) {
    answer(s, errorReply(new DkvError('unavailable', `the cluster has ${targets.length} nodes, ${setup.needed} replicas required`)), effects);
    return stop(s, effects);
  }
  s.quorum = quorum(targets.length, setup.needed);
  s.clocks = [];
  s.ownerNodes = [];
  s.ownerCopies = [];
  s.ownersPending = fan.owners.filter((o) => targets.includes(o));
  s.heldBackEmpty = 0;
  s.failedWith = [];
  const localUsed = targets.includes(setup.self) && setup.local !== undefined;
  s.local = localUsed ? setup.local : undefined;
  s.digest = localUsed ? readDigest(setup.key, setup.local!) : undefined;
  for (const node of targets) {
    if (node === setup.self && localUsed) continue;
    effects.push(readOf(s, node, nowMs));
  }
  if (localUsed) onReplyFull(s, setup.self, { ok: true, clock: setup.local! }, nowMs, effects);
}

function readOf(s: GetState, node: string, nowMs: number): Effect {
  // One attempt gets a slice of the deadline, so a silent replica can be retried, then replaced.
  return { type: 'read', node, round: s.round, digest: s.digest, deadlineMs: Math.min(s.setup.deadlineMs, nowMs + REPLICA_ATTEMPT_MS) };
}

export function stepGet(s: GetState, ev: GetEvent, nowMs: number): Effect[] {
  const effects: Effect[] = [];
  if (s.done) return effects;
  switch (ev.type) {
    case 'replied':
      if (ev.round !== s.round) return effects;
      if (s.mode === 'fast') onReplyFast(s, ev.node, ev.result, nowMs, effects);
      else onReplyFull(s, ev.node, ev.result, nowMs, effects);
      return effects;
    case 'retry':
      effects.push(readOf(s, ev.node, nowMs));
      return effects;
    case 'repair':
      readRepair(s, nowMs, effects);
      stop(s, effects);
      return effects;
    case 'timeout': {
      // Answered already, or past the client's own deadline (it has retried): just stop.
      if (s.answered) readRepair(s, nowMs, effects);
      const clientGone = s.setup.clientDeadlineMs !== undefined && s.setup.clientDeadlineMs <= s.setup.deadlineMs;
      if (!s.answered && !clientGone) {
        const tookMs = Math.round(s.setup.deadlineMs - s.createdMs);
        answer(s, errorReply(new DkvError('timeout', `deadline of ${tookMs} ms passed: ${describe(s.quorum, 'read')}`)), effects);
      }
      stop(s, effects);
      return effects;
    }
  }
}

/** A `same` answer stands for this node's own copy, which was not sent back. */
function resolved(s: GetState, node: string, result: ReplicaResult, effects: Effect[]): ReplicaResult {
  if (!result.ok || !result.same) return result;
  effects.push(COUNT.sameReads);
  return sameAsLocal(node, s.digest !== undefined, s.local ?? null);
}

function onReplyFast(s: GetState, node: string, raw: ReplicaResult, nowMs: number, effects: Effect[]): void {
  s.pending--;
  const result = resolved(s, node, raw, effects);
  if (!result.ok && !s.answered) {
    // Every owner was up when it started; one that fails needs the full rules. They ask everyone
    // again (round 1), so that a replica asked twice is never counted twice. A failure after the
    // answer only leaves that owner unrepaired, as in a full read.
    effects.push(COUNT.fastReadHandovers);
    s.round++;
    return startFull(s, nowMs, effects);
  }
  if (result.ok) fold(s, node, result, true);
  concludeFast(s, nowMs, effects);
}

/** Answers once R replies agree; repairs and stops once every owner has answered (no window). */
function concludeFast(s: GetState, nowMs: number, effects: Effect[]): void {
  if (!s.answered && verdict(s.quorum) === 'met') answerRead(s, effects);
  if (s.pending === 0 && !s.done) {
    readRepair(s, nowMs, effects);
    stop(s, effects);
  }
}

function onReplyFull(s: GetState, node: string, raw: ReplicaResult, nowMs: number, effects: Effect[]): void {
  const fan = s.fan!;
  const result = resolved(s, node, raw, effects);
  const isOwner = fan.owners.includes(node);
  if (!result.ok && node !== s.setup.self) {
    const next = onFailedReplica(fan, node, result.unreachable, nowMs, s.setup.deadlineMs);
    if (next?.kind === 'retry') {
      effects.push(COUNT.retries, { type: 'schedule', timer: 'retry', atMs: next.atMs, node });
      return;
    }
    if (next?.kind === 'replace') {
      removeFrom(s.ownersPending, node);
      effects.push(COUNT.sloppy, readOf(s, next.node, nowMs));
      return;
    }
  }
  if (result.ok && result.clock === null && !isOwner && s.ownersPending.length > 0) {
    s.heldBackEmpty++;
    return;
  }
  removeFrom(s.ownersPending, node);
  if (!result.ok) s.failedWith.push([node, result.error]);
  fold(s, node, result, isOwner);
  while (s.ownersPending.length === 0 && s.heldBackEmpty > 0 && verdict(s.quorum) === 'waiting') {
    s.heldBackEmpty--;
    recordInPlace(s.quorum, true);
  }
  const v = verdict(s.quorum);
  if (v === 'waiting') return;
  if (v === 'failed') {
    answer(s, quorumFailed(s.quorum, 'read', s.failedWith), effects);
    return stop(s, effects);
  }
  answerRead(s, effects);
  // The read goes on after its answer for the replicas not heard from yet, briefly, then
  // repairs the ones that were stale (Dynamo §5: read repair).
  if (s.quorum.ok + s.quorum.failed >= s.quorum.total) {
    readRepair(s, nowMs, effects);
    return stop(s, effects);
  }
  if (!s.repairScheduled) {
    s.repairScheduled = true;
    effects.push({ type: 'schedule', timer: 'repair', atMs: nowMs + READ_REPAIR_WINDOW_MS });
  }
}

function fold(s: GetState, node: string, result: ReplicaResult, isOwner: boolean): void {
  recordInPlace(s.quorum, result.ok);
  if (!result.ok) return;
  if (result.clock !== null) s.clocks.push(result.clock);
  if (isOwner) {
    s.ownerNodes.push(node);
    s.ownerCopies.push(result.clock);
  }
}

function answer(s: GetState, body: object, effects: Effect[]): void {
  if (s.answered) return;
  s.answered = true;
  effects.push({ type: 'answer', body });
}

function answerRead(s: GetState, effects: Effect[]): void {
  if (s.answered) return;
  s.answered = true;
  // Dynamo §6.4: the owner that answered first coordinates the next write (its context names it).
  // Owners only, in the order their ok replies came, so this node when it read its own copy.
  effects.push({ type: 'answerRead', merged: merged(s.clocks), coordinator: s.ownerNodes[0] });
}

/** Agreeing replicas all hand back this node's own copy: nothing to merge then. */
function merged(clocks: readonly StoredClock[]): StoredClock {
  const first = clocks[0];
  return first !== undefined && clocks.every((c) => c === first) ? first : reconcile(clocks);
}

/**
 * Every owner that answered with less than the reconciled version set gets it. Owners that agree
 * get nothing, so a read of consistent replicas writes nothing; an owner that did not answer is
 * left to hinted handoff and anti-entropy.
 */
function readRepair(s: GetState, nowMs: number, effects: Effect[]): void {
  if (s.repaired) return;
  s.repaired = true;
  const copies = s.ownerCopies;
  const first = copies[0];
  // The common case: every owner answered with this node's copy (or its digest).
  if (first !== null && first !== undefined && copies.every((c) => c === first)) return;
  const seen = copies.filter((c): c is StoredClock => c !== null);
  if (seen.length === 0) return;
  const target = reconcile(seen);
  const settledBeforeMs = nowMs - READ_REPAIR_SETTLE_MS;
  const { self } = s.setup;
  for (let i = 0; i < copies.length; i++) {
    if (!needsRepair(copies[i]!, target, settledBeforeMs)) continue;
    const node = s.ownerNodes[i]!;
    const hints = s.fan === undefined ? [] : node === self ? standsFor(s.fan, self) : (s.fan.hintsFor.get(node) ?? []);
    effects.push(COUNT.readRepairs, { type: 'replicate', node, round: s.round, clock: target, hints, deadlineMs: Math.min(s.setup.deadlineMs, nowMs + REPLICA_ATTEMPT_MS) });
  }
}

function stop(s: GetState, effects: Effect[]): void {
  s.done = true;
  effects.push({ type: 'stop' });
}

function removeFrom(list: string[], node: string): void {
  const i = list.indexOf(node);
  if (i >= 0) list.splice(i, 1);
}
