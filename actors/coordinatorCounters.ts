/**
 * The coordinators' per-node request figures, in a file of their own: status and metrics read
 * them, and the coordinator (which reports to metrics) counts them, so the type sits apart from
 * all three and no import circle forms.
 */
import type { Counter } from '../src/requestCore.ts';

/** Per-node request figures, reported by `status`. */
export interface CoordinatorCounters extends Record<Counter, number> {
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
  /** Reads that took the fast start (src/getCore.ts), and those that left it after a replica failed. */
  fastReads: number;
  fastReadHandovers: number;
  /** Gets answered with more than one value (concurrent versions the client must reconcile). */
  siblingReads: number;
}
