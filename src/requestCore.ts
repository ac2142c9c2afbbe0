/**
 * What the request cores (src/getCore.ts, src/writeCore.ts) share: the effects they ask the
 * coordinator (actors/coordinator.ts) to perform, and the timing of replica attempts. The cores
 * never do I/O or read a clock: the coordinator performs every effect and feeds back what came of
 * it as an event, with the time it happened (etcd raft's Step/Ready, Riak's get/put core).
 */
import type { StoredClock } from './replica.ts';
import type { Hash } from './merkle.ts';
import { plan, replacement } from './sloppy.ts';
import { DkvError, errorReply, type ErrorReply } from './errors.ts';
import { describe, type Quorum } from './quorum.ts';
import { refusalOf, type RefusalCode } from './replicaResult.ts';

/** Retries of a replica that timed out, before it is replaced; backoff doubles from the base. */
export const REPLICA_RETRIES_MAX = 2;
export const RETRY_BACKOFF_MS_BASE = 50;
/** How long one replica attempt may take before it counts as a timeout (retried or replaced). */
export const REPLICA_ATTEMPT_MS = 500;
/** How long a read waits, after answering, for the replicas not heard from, before read repair. */
export const READ_REPAIR_WINDOW_MS = 200;
/** Versions younger than this are left to their own replication rather than read-repaired. */
export const READ_REPAIR_SETTLE_MS = 1000;

/** The per-node request figures a core moves (reported by `status`). */
export type Counter = 'gets' | 'fastReads' | 'fastReadHandovers' | 'sameReads' | 'readRepairs' | 'retries' | 'sloppy' | 'writes' | 'forwardedWrites';

/** The count effects, made once: a read would otherwise allocate one per figure it moves. */
export const COUNT: { readonly [C in Counter]: Effect } = {
  gets: { type: 'count', counter: 'gets' },
  fastReads: { type: 'count', counter: 'fastReads' },
  fastReadHandovers: { type: 'count', counter: 'fastReadHandovers' },
  sameReads: { type: 'count', counter: 'sameReads' },
  readRepairs: { type: 'count', counter: 'readRepairs' },
  retries: { type: 'count', counter: 'retries' },
  sloppy: { type: 'count', counter: 'sloppy' },
  writes: { type: 'count', counter: 'writes' },
  forwardedWrites: { type: 'count', counter: 'forwardedWrites' },
};

/** A timer a core asks for; it comes back as the event of the same name. */
export type Timer = 'timeout' | 'repair' | 'retry';

/**
 * `round` tags the replies of one fan-out: a read that leaves its fast start asks everyone again,
 * and the first round's late replies must not count twice. Asks of `node` equal to this node go to
 * its own vnode (or hint store) rather than over the bus.
 */
export type Effect =
  | { readonly type: 'read'; readonly node: string; readonly round: number; readonly digest: Hash | undefined; readonly deadlineMs: number }
  /** `hints`: the owners whose copy `node` keeps as a hint (for this node: the owners it stands in for). */
  /** `durable`: this copy is fsynced before it is acknowledged (sync mode `one`, see writeCore). */
  | { readonly type: 'replicate'; readonly node: string; readonly round: number; readonly clock: StoredClock; readonly hints: readonly string[]; readonly deadlineMs: number; readonly durable?: true }
  /** Make the new version on this node: its vnode, plus a hint for `hints`; with no vnode, its hint store for `standFor`. */
  | { readonly type: 'coordinate'; readonly round: number; readonly hints: readonly string[]; readonly standFor: readonly string[]; readonly durable?: true }
  /** A write's copy for owners nobody else will keep (see writeCore's orphaned hints); answered with a log line only. */
  | { readonly type: 'keepHints'; readonly node: string; readonly owners: readonly string[]; readonly clock: StoredClock; readonly deadlineMs: number }
  /** Send the write to the first of `candidates` that takes it; the outcome comes back as `forwarded`. */
  | { readonly type: 'forward'; readonly candidates: readonly string[]; readonly deadlineMs: number }
  | { readonly type: 'answer'; readonly body: object }
  /** A write reached its quorum: tell the change feed the key's version set as this node made it. */
  | { readonly type: 'changed'; readonly clock: StoredClock }
  /**
   * Answer a get with this reconciled version set (the coordinator encodes the reply), its context
   * naming `coordinator` for the next write (src/context.ts), when an owner answered.
   */
  | { readonly type: 'answerRead'; readonly merged: StoredClock; readonly coordinator: string | undefined }
  | { readonly type: 'schedule'; readonly timer: Timer; readonly atMs: number; readonly node?: string }
  | { readonly type: 'count'; readonly counter: Counter }
  | { readonly type: 'stop' };

/** The failure detector's view, asked while planning and replacing. */
export type IsUp = (node: string) => boolean;

/** Refusals that mean "busy", not "gone": the client backs off and retries these. */
export function isOverloadedError(error: string): boolean {
  return refusalOf(error)?.code === 'overloaded';
}

/**
 * The answer to a request whose quorum can no longer be met, naming each failed replica's reason.
 * Replicas that refused only because they were at a bound are busy, not gone: the client backs
 * off and retries an `overloaded`, where it would give up on `unavailable`.
 */
export function quorumFailed(q: Quorum, what: 'read' | 'write', failedWith: ReadonlyArray<readonly [string, string]>): ErrorReply {
  const why = failedWith.map(([n, e]) => `${n}: ${e}`).join('; ');
  const busy = failedWith.length > 0 && failedWith.every(([, e]) => isOverloadedError(e));
  return errorReply(new DkvError(busy ? 'overloaded' : 'unavailable', `${describe(q, what)}${why ? ` [${why}]` : ''}`));
}

/** The code a coordinating replica's refusal maps to, and the message without its prefix. */
export function localRefusal(error: string, self: string): { code: RefusalCode | 'internal'; message: string } {
  return refusalOf(error) ?? { code: 'internal', message: `the coordinating replica ${self} could not write: ${error}` };
}

/**
 * The replicas one request writes to or reads from: the sloppy plan (src/sloppy.ts) and what
 * became of it. Invariant: `asked` is distinct; every key of `hintsFor` is in `asked`.
 */
export interface Fanout {
  readonly preference: readonly string[];
  readonly owners: readonly string[];
  readonly n: number;
  readonly isUp: IsUp;
  asked: string[];
  hintsFor: Map<string, readonly string[]>;
  /** Retries so far per replica that timed out; made on the first. */
  retries: Map<string, number> | undefined;
}

export function fanout(preference: readonly string[], n: number, isUp: IsUp): Fanout {
  const sloppy = plan(preference, n, isUp);
  return { preference, owners: preference.slice(0, n), n, isUp, asked: [...sloppy.targets], hintsFor: new Map(sloppy.hints), retries: undefined };
}

/**
 * What to do about a replica whose attempt failed: ask it again after a backoff (it timed out and
 * the deadline leaves room), ask the next node of the preference list in its place, or nothing
 * (the failure counts). A replacement joins `asked` and keeps the failed node's hints.
 */
export function onFailedReplica(
  f: Fanout,
  node: string,
  unreachable: 'no-responders' | 'timeout' | undefined,
  nowMs: number,
  deadlineMs: number,
): { kind: 'retry'; atMs: number } | { kind: 'replace'; node: string } | undefined {
  f.retries ??= new Map();
  const tried = f.retries.get(node) ?? 0;
  const backoffMs = RETRY_BACKOFF_MS_BASE * 2 ** tried;
  if (unreachable === 'timeout' && tried < REPLICA_RETRIES_MAX && deadlineMs - nowMs > backoffMs * 2) {
    f.retries.set(node, tried + 1);
    return { kind: 'retry', atMs: nowMs + backoffMs };
  }
  const next = replacement(f.preference, f.n, new Set(f.asked), node, f.hintsFor.get(node) ?? [], f.isUp);
  if (!next) return undefined;
  f.asked.push(next.node);
  f.hintsFor.set(next.node, next.hints);
  return { kind: 'replace', node: next.node };
}

/** The owners this node keeps a copy for when it holds no vnode of the partition (it stands in). */
export function standsFor(f: Fanout, self: string): readonly string[] {
  return f.hintsFor.get(self) ?? f.owners.filter((o) => !f.isUp(o)).slice(0, 1);
}
