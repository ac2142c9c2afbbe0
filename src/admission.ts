/**
 * Admission control (Dynamo §6.5): a node takes client requests (a get, put or delete, a batch
 * of them, a write forwarded by another node) while fewer than `opsMax` operations are in
 * progress, counted per operation; a request arriving past that is answered `overloaded` at
 * once, before anything is read or written, so the client can back off and retry. A batch that
 * arrives below the bound is taken whole, so in progress never passes `opsMax` plus one batch
 * (src/protocol.ts BATCH_OPS_MAX): a client's pipelined batch is served or refused as a unit. Past its capacity a node that queues everything serves nothing well: every
 * request waits behind all the others until they all time out together.
 *
 * Pure bookkeeping; the gateway takes and gives back.
 * Invariant: 0 <= inProgress < opsMax + BATCH_OPS_MAX.
 */
export interface Admission {
  readonly opsMax: number;
  inProgress: number;
  admitted: number;
  rejected: number;
}

/**
 * Default bound, from measurement (`npm run bench -- --overload`, docs/performance.md): a node at
 * full throughput has some tens of operations in progress (Little's law: 1,300 ops/s x 5 ms per
 * node is under 10, with room for bursts and slow replicas). Per node, at 2x / 5x / 10x offered
 * load: 64 kept goodput at 149% / 142% / 27% of the measured capacity with p99 162 / 193 /
 * 2,042 ms and RSS up to 386 MB; 32 kept 179% / 154% / 105% with p99 58 / 110 / 156 ms and RSS
 * under 270 MB, every request answered; 16 cut p99 further (52 / 68 ms at 2x and 5x) but sheds
 * closed-loop clients with more than about 48 requests in flight on 3 nodes. 256 let admitted
 * work queue past the deadline (59% and 6% at 2x and 5x).
 */
export const CLIENT_OPS_IN_PROGRESS_MAX = 32;

export function admission(opsMax: number = CLIENT_OPS_IN_PROGRESS_MAX): Admission {
  if (!Number.isSafeInteger(opsMax) || opsMax < 1) throw new RangeError(`the bound on operations in progress must be a positive integer, got ${opsMax}`);
  return { opsMax, inProgress: 0, admitted: 0, rejected: 0 };
}

/** Takes `ops` places, all or none: false (and counted as rejected) when the node is at its bound. */
export function admit(a: Admission, ops: number): boolean {
  if (a.inProgress >= a.opsMax) {
    a.rejected += ops;
    return false;
  }
  a.inProgress += ops;
  a.admitted += ops;
  return true;
}

export function release(a: Admission, ops = 1): void {
  a.inProgress = Math.max(0, a.inProgress - ops);
}

/** The same words for every refusal, so that a node can encode the reply once. */
export function overloadedMessage(a: Admission): string {
  return `node at its bound of ${a.opsMax} operations in progress: nothing was applied; back off and retry`;
}

/**
 * Replica operations from peers in progress on this node (reads and writes of replica batches,
 * answered once durable). Peers' admission control keeps the honest figure in the low hundreds;
 * the bound is for a flood, which anyone on the NATS account can publish: past it a batch is
 * answered `overloaded` operation by operation, and nothing of it is applied.
 */
export const REPLICA_OPS_IN_PROGRESS_MAX = 4096;
