/**
 * The label values of a node's Prometheus metrics (actors/metrics.ts), as pure functions: which
 * operations and outcomes a request is counted under, which reason a failed quorum had, and which
 * kind of actor a supervision decision was about. Every label has a small fixed set of values, so
 * a node's metrics stay a bounded set of series whatever the traffic.
 */

/** Client operations counted at the gateway; a batch is counted once as `batch`, and each of its operations under its own op. */
export const REQUEST_OPS = ['get', 'put', 'delete', 'batch'] as const;
export type RequestOp = (typeof REQUEST_OPS)[number];

/** `ok`, or the error code of the reply (DESIGN.md §3). */
export const REQUEST_OUTCOMES = ['ok', 'bad_request', 'too_large', 'unavailable', 'timeout', 'overloaded', 'conflict', 'internal'] as const;
export type RequestOutcome = (typeof REQUEST_OUTCOMES)[number];

/** Request durations from 0.1 ms to 5 s (a request's deadline is seconds), about three buckets per decade. */
export const REQUEST_DURATION_BUCKETS_SECONDS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const OUTCOME_INDEX: ReadonlyMap<string, number> = new Map(REQUEST_OUTCOMES.map((o, i) => [o, i]));

/** The outcome's index in REQUEST_OUTCOMES; an unknown error code counts as `internal`. */
export function outcomeIndex(body: object): number {
  const error = (body as { error?: { code?: unknown } }).error;
  if (error === undefined) return 0;
  return OUTCOME_INDEX.get(String(error?.code)) ?? OUTCOME_INDEX.get('internal')!;
}

/** Reasons a request's quorum was not reached (the error codes that mean it). */
export const QUORUM_FAILURE_REASONS = ['unavailable', 'timeout', 'overloaded'] as const;
export type QuorumFailureReason = (typeof QUORUM_FAILURE_REASONS)[number];

/** The reason a coordinator's answer says its quorum failed, or undefined when it is not a quorum failure. */
export function quorumFailureReason(body: object): QuorumFailureReason | undefined {
  const code = (body as { error?: { code?: unknown } }).error?.code;
  return (QUORUM_FAILURE_REASONS as readonly unknown[]).includes(code) ? (code as QuorumFailureReason) : undefined;
}

const KIND_MAX_CHARS = 32;

/**
 * The kind of actor an actor path names, for the supervision metric's `kind` label:
 * `dkv-n1://node/vnode-7` is a vnode, `dkv-n1://node/gateway/coordinator-get-12` a coordinator,
 * `dkv-n1://node/nats/dkv.local.get` a nats subscription, `dkv-n1://process` the process. The last
 * segment that is not a subject (no dot) names it; an instance number and what comes between
 * the first word and it are dropped. Anything else is `other`, so the label stays bounded.
 */
export function actorKind(path: string): string {
  const at = path.indexOf('://');
  const segments = (at >= 0 ? path.slice(at + 3) : path).split('/');
  let segment: string | undefined;
  for (let i = segments.length - 1; i >= 0; i--) {
    if (segments[i] !== '' && !segments[i]!.includes('.')) {
      segment = segments[i];
      break;
    }
  }
  if (segment === undefined) return 'other';
  const kind = /-\d+$/.test(segment) ? segment.slice(0, segment.indexOf('-')) : segment;
  return /^[A-Za-z][A-Za-z0-9_-]*$/.test(kind) && kind.length <= KIND_MAX_CHARS ? kind : 'other';
}
