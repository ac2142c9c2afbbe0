/**
 * The replica server: a peer's batch on `dkv.<cluster>.internal.<ID>.replica`, checked, bounded
 * (REPLICA_OPS_IN_PROGRESS_MAX: past it the batch is answered `overloaded` operation by
 * operation, nothing applied), each operation routed by src/replicaRoute.ts and performed: on
 * this node's vnodes (through vnodeMail, in arrival order), by the handoff actor, or forwarded to
 * a replica under this node's ring. One answer per batch once every operation has settled.
 */
import type { Clock } from './clock.ts';
import nact from 'nact';
import type { TransportMsg as Msg, TransportSubscription as Subscription } from './transport.ts';
import type { Logger } from 'pino';
import { encodeInternal } from '../src/codec.ts';
import { routeRead, routeWrite, type RouteContext } from '../src/replicaRoute.ts';
import type { Ring } from '../src/ring.ts';
import { parseReplicaBatch, parseReplicaOp, type ReplicaOp, type WireLimits } from '../src/wire.ts';
import { hintLostLogger } from './handoff.ts';
import type { Health } from './health.ts';
import { BATCH_OPS_MAX, type Outbox } from './outbox.ts';
import type { Faults, ReplicaResult, VnodeOp } from './vnode.ts';
import type { VnodeMail } from './vnodeMail.ts';
import type { WireRejections } from './wireRejections.ts';
import { refusal } from '../src/replicaResult.ts';

/** A read or write passed on to another replica (for a stale sender, or a read-through while receiving). */
export const REPLICA_READ_THROUGH_MS = 500;

export interface ReplicaServerDeps {
  readonly id: string;
  readonly clock: Clock;
  readonly n: number;
  readonly subject: string;
  replicaSubject(node: string): string;
  subscribe(subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }): Subscription;
  readonly outbox: Outbox;
  readonly wireLimits: WireLimits;
  readonly rejected: WireRejections;
  readonly vnodes: ReadonlyMap<number, any>;
  readonly vnodeMail: VnodeMail;
  ring(): Ring | undefined;
  ringVersion(): number;
  members(): readonly string[];
  readonly health: Health;
  readonly handoff: any;
  readonly faults: Faults;
  /** This node's copy of a key, or a read-through while receiving (actors/localReplica.ts); false: not held. */
  readReplica(p: number, key: string, reply: (r: ReplicaResult) => void, digest?: unknown, own?: boolean): boolean;
  readonly log: Logger;
  readonly opsMax: number;
}

export function serveReplicas(deps: ReplicaServerDeps): { subscription: Subscription; figures(): { replicaOpsInProgress: number; replicaOpsMax: number; replicaOpsRefused: number } } {
  const { id, outbox, faults, health, log, vnodes } = deps;
  /** Operations of peers' batches not answered yet, and those refused past the bound. */
  let inProgress = 0;
  let refusedOps = 0;

  /**
   * Routes one operation of a peer's batch: to the vnode when this node owns the partition, to
   * the handoff buffer when it stands in for owners (`h`), or both. A malformed operation is
   * answered and never reaches an actor.
   */
  const replicaOp = (op: ReplicaOp, reply: (r: ReplicaResult) => void, stale: string | undefined): VnodeOp | undefined => {
    const current = deps.ring();
    if (current === undefined) {
      reply({ ok: false, error: `${id} is not in a cluster yet` });
      return undefined;
    }
    const owns = vnodes.has(op.p);
    if (op.op === 'read') {
      if (faults.replicaReadRefusals > 0) {
        faults.replicaReadRefusals -= 1;
        return void reply({ ok: false, error: 'injected replica read refusal (test fault switch)' });
      }
      // routeRead's first rule, taken before any allocation: most reads are of a copy held here.
      if (owns && deps.readReplica(op.p, op.k, reply, op.d, op.own === true)) return undefined;
    }
    const at: RouteContext = { self: id, partition: op.p, owns, replicas: () => current.replicas(op.p, deps.n), stale };
    if (op.op === 'read') {
      const route = routeRead(at, (x) => health.isUp(x));
      if (route.kind === 'forward') return void outbox.call(deps.replicaSubject(route.to), op, deps.clock.now() + REPLICA_READ_THROUGH_MS, reply);
      nact.dispatch(deps.handoff, { type: 'read', partition: op.p, key: op.k, owners: at.replicas(), reply });
      return undefined;
    }
    if (op.op === 'reap') {
      if (owns) return { type: 'reap', key: op.k, clock: op.c, reply };
      return void reply({ ok: false, error: `${id} holds no replica of partition ${op.p}` });
    }
    const route = routeWrite(at, op.h, deps.members(), deps.ringVersion());
    switch (route.kind) {
      case 'refuse':
        return void reply({ ok: false, error: route.error });
      case 'forward': {
        const forwarded = op.dur ? { op: 'replicate' as const, p: op.p, k: op.k, c: op.c, dur: true as const } : { op: 'replicate' as const, p: op.p, k: op.k, c: op.c };
        let pending = route.to.length;
        let answered = false;
        for (const to of route.to) {
          outbox.call(deps.replicaSubject(to), forwarded, deps.clock.now() + REPLICA_READ_THROUGH_MS, (r) => {
            pending--;
            if (answered) return;
            if (r.ok || pending === 0) {
              answered = true;
              reply(r);
            }
          });
        }
        return undefined;
      }
      case 'hint':
        // A stand-in asked for the durable copy (`dur`, sync mode `one`) fsyncs its hints.
        nact.dispatch(deps.handoff, { type: 'hint', partition: op.p, key: op.k, owners: [...route.owners], clock: op.c, reply, ...(op.dur ? { durable: true } : {}) });
        return undefined;
      case 'apply':
        if (route.forwardTo.length > 0) {
          const forwarded = { op: 'replicate' as const, p: op.p, k: op.k, c: op.c };
          for (const to of route.forwardTo) outbox.call(deps.replicaSubject(to), forwarded, deps.clock.now() + REPLICA_READ_THROUGH_MS, () => {});
        }
        // The replica's answer is the one a quorum counts; a refused hint is only logged.
        if (route.hintFor.length > 0) nact.dispatch(deps.handoff, { type: 'hint', partition: op.p, key: op.k, owners: [...route.hintFor], clock: op.c, reply: hintLostLogger(log, op.k, [...route.hintFor], id) });
        // A copy kept as a hint above follows its store's mode: `dur` asks for this replica's copy.
        return op.dur ? { type: 'replicate', key: op.k, clock: op.c, reply, durable: true } : { type: 'replicate', key: op.k, clock: op.c, reply };
    }
  };

  // Replica traffic goes straight to the vnodes (the gateway adds nothing on this path): one
  // batch per sender per turn, its operations run on the vnodes once the socket read's run of work
  // is over (vnodeMail), and one answer once every operation has settled.
  const subscription = deps.subscribe(deps.subject, {
    callback: (err, msg) => {
      if (err) return;
      let ops: unknown[];
      let stale: string | undefined;
      try {
        const batch = parseReplicaBatch(msg.data, BATCH_OPS_MAX);
        ops = batch.ops;
        if (batch.rv !== undefined && batch.rv < deps.ringVersion() && batch.from !== undefined) stale = batch.from;
      } catch (e) {
        deps.rejected.note('replica', (e as Error).message);
        return outbox.respond(msg, encodeInternal({ results: [], error: `malformed replica batch: ${(e as Error).message}` }));
      }
      const results: Array<ReplicaResult | undefined> = new Array(ops.length);
      let outstanding = ops.length;
      if (outstanding === 0) return outbox.respond(msg, encodeInternal({ results }));
      if (inProgress + ops.length > deps.opsMax) {
        refusedOps += ops.length;
        const refused: ReplicaResult = { ok: false, error: refusal('overloaded', `${id} has ${inProgress} replica operations in progress, at most ${deps.opsMax}`) };
        return outbox.respond(msg, encodeInternal({ results: results.fill(refused) }));
      }
      inProgress += ops.length;
      // One named function per batch, the per-operation answers inline: esbuild's keepNames (tsx)
      // wraps a named closure in a `__name` call each time one is made, which showed in profiles.
      const settle = (i: number, r: ReplicaResult): void => {
        if (results[i] !== undefined) return; // answered already (a crash answers all ops)
        results[i] = r;
        inProgress--;
        if (--outstanding === 0) outbox.respond(msg, encodeInternal({ results }));
      };
      ops.forEach((raw, i) => {
        const answer = settleOf(settle, i);
        const op = parseReplicaOp(raw, deps.wireLimits);
        if (typeof op === 'string') {
          deps.rejected.note('replica-op', op);
          return answer({ ok: false, error: op });
        }
        const vmsg = replicaOp(op, answer, stale);
        if (vmsg) deps.vnodeMail.send(vnodes.get(op.p), vmsg);
      });
    },
  });

  return { subscription, figures: () => ({ replicaOpsInProgress: inProgress, replicaOpsMax: deps.opsMax, replicaOpsRefused: refusedOps }) };
}

/** The answer to operation `i` of a batch: a closure made without a name (see the subscription). */
function settleOf(settle: (i: number, r: ReplicaResult) => void, i: number): (r: ReplicaResult) => void {
  return (r) => settle(i, r);
}
