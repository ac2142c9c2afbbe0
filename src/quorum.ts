/**
 * Quorum bookkeeping for one request, folded reply by reply (Riak's get/put core): the
 * coordinator asks `verdict` after each reply and acts on it. Pure and deterministic.
 */
export interface Quorum {
  /** Replicas asked. Invariant: 1 <= needed <= total. */
  readonly total: number;
  readonly needed: number;
  /** Invariant: ok + failed <= total. */
  readonly ok: number;
  readonly failed: number;
}

export type Verdict = 'met' | 'failed' | 'waiting';

export function quorum(total: number, needed: number): Quorum {
  if (!Number.isInteger(total) || !Number.isInteger(needed) || needed < 1 || needed > total) {
    throw new RangeError(`quorum needs 1 <= needed (${needed}) <= total (${total})`);
  }
  return { total, needed, ok: 0, failed: 0 };
}

export function record(q: Quorum, success: boolean): Quorum {
  if (q.ok + q.failed >= q.total) {
    throw new RangeError(`quorum got reply ${q.ok + q.failed + 1} of ${q.total}: a replica answered twice`);
  }
  return success ? { ...q, ok: q.ok + 1 } : { ...q, failed: q.failed + 1 };
}

/**
 * `record` for a request's own tally, counted in place: a read folds two or three replies, and a
 * new object per reply showed in the read path's garbage. Same invariant, same error.
 */
export function recordInPlace(q: { total: number; needed: number; ok: number; failed: number }, success: boolean): void {
  if (q.ok + q.failed >= q.total) {
    throw new RangeError(`quorum got reply ${q.ok + q.failed + 1} of ${q.total}: a replica answered twice`);
  }
  if (success) q.ok++;
  else q.failed++;
}

export function verdict(q: Quorum): Verdict {
  if (q.ok >= q.needed) return 'met';
  const outstanding = q.total - q.ok - q.failed;
  return q.ok + outstanding < q.needed ? 'failed' : 'waiting';
}

export function describe(q: Quorum, what: 'read' | 'write'): string {
  return `${q.ok} of ${q.total} replicas acknowledged the ${what}, ${q.needed} required (${q.failed} failed)`;
}
