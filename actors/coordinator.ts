/**
 * coordinator: one short-lived actor per get/put/delete, like Riak's get/put FSM. It fans out
 * to the key's replicas, folds each reply through src/quorum.ts, answers once and stops.
 * Replies and the deadline arrive as messages, so the actor never blocks on I/O.
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
import { join, liveValues } from '../src/dvvset.ts';
import { DkvError, errorReply, type ErrorReply } from '../src/errors.ts';
import { getReply, type GetRequest, type WriteRequest } from '../src/protocol.ts';
import { describe, quorum, record, verdict, type Quorum } from '../src/quorum.ts';
import { putReplyContext, reconcile, type StoredClock } from '../src/replica.ts';
import type { Ring } from '../src/ring.ts';
import type { Subjects } from '../src/subjects.ts';
import type { Outbox } from './outbox.ts';
import { stopOnCrash } from './supervision.ts';
import type { ReplicaResult, VnodeMsg } from './vnode.ts';

export interface CoordinatorDeps {
  readonly nodeId: string;
  readonly settings: ClusterSettings;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly log: Logger;
  readonly counters: CoordinatorCounters;
  readonly outbox: Outbox;
  ring(): Ring;
  vnode(partition: number): any | undefined;
}

/** Per-node request figures, reported by `status`. */
export interface CoordinatorCounters {
  gets: number;
  writes: number;
  /** Writes this node received but does not replicate, sent on to a preference-list node. */
  forwardedWrites: number;
  failures: number;
}

export type Job =
  | { kind: 'get'; req: GetRequest }
  | { kind: 'put' | 'delete'; req: WriteRequest; forwarded: boolean };

/** What the client is sent: a protocol reply object, or an error reply. */
export type Respond = (body: object) => void;

type Msg =
  | { type: 'replied'; node: string; result: ReplicaResult }
  | { type: 'computed'; clock: StoredClock }
  | { type: 'forwarded'; body: object }
  | { type: 'timeout' };

interface State {
  readonly quorum?: Quorum;
  readonly clocks: StoredClock[];
  /** The coordinated version, once the local replica has written it (writes only). */
  readonly written?: StoredClock;
  readonly done: boolean;
}

let sequence = 0;

export function spawnCoordinator(parent: any, deps: CoordinatorDeps, job: Job, respond: Respond): void {
  const { settings, nodeId } = deps;
  const ring = deps.ring();
  const partition = ring.partitionOf(job.req.key);
  const replicas: readonly string[] = ring.replicas(partition, settings.n);
  const deadlineMs = Date.now() + settings.requestTimeoutMs;
  let timer: NodeJS.Timeout | undefined;
  let answered = false;
  const answer = (body: object) => {
    if (answered) return;
    answered = true;
    if ('error' in body) deps.counters.failures++;
    if (timer) clearTimeout(timer);
    respond(body);
  };

  nact.spawn(
    parent,
    (state: State, msg: Msg, ctx: any): State => {
      if (state.done) return state;
      const finish = (body: object): State => {
        answer(body);
        nact.stop(ctx.self);
        return { ...state, done: true };
      };
      switch (msg.type) {
        case 'timeout':
          return finish(errorReply(new DkvError('timeout', `deadline of ${settings.requestTimeoutMs} ms passed: ${state.quorum ? describe(state.quorum, job.kind === 'get' ? 'read' : 'write') : 'no replica answered'}`)));
        case 'forwarded':
          return finish(msg.body);
        case 'computed':
          return onComputed(state, msg.clock, ctx.self);
        case 'replied':
          return job.kind === 'get' ? onRead(state, msg.node, msg.result, finish) : onWrite(state, msg.node, msg.result, finish);
      }
    },
    `coordinator-${job.kind}-${++sequence}`,
    {
      // The fan-out happens while the actor is created, not in a first mailbox turn: one
      // event-loop turn less for every request.
      initialStateFunc: (ctx: any) => {
        timer = setTimeout(() => nact.dispatch(ctx.self, { type: 'timeout' }), Math.max(0, deadlineMs - Date.now()));
        return start({ clocks: [], done: false }, ctx.self);
      },
      onCrash: stopOnCrash<Msg>(deps.log, (_msg, err) => answer(errorReply(new DkvError('internal', `coordinator crashed: ${(err as Error).message}`)))),
    },
  );

  function ask(node: string, message: { op: 'read' } | { op: 'coordinate'; req: WriteRequest } | { op: 'replicate'; clock: StoredClock }, self: any): void {
    const reply = (result: ReplicaResult) => nact.dispatch(self, { type: 'replied', node, result });
    if (node === nodeId) {
      const vnode = deps.vnode(partition);
      if (!vnode) return reply({ ok: false, error: `no vnode for partition ${partition} on ${nodeId}` });
      const key = job.req.key;
      const computed = (clock: StoredClock) => nact.dispatch(self, { type: 'computed', clock });
      const local: VnodeMsg =
        message.op === 'read'
          ? { type: 'read', key, reply }
          : message.op === 'coordinate'
            ? { type: 'coordinate', key, context: message.req.context, value: message.req.value, reply, computed }
            : { type: 'replicate', key, clock: message.clock, reply };
      nact.dispatch(vnode, local);
      return;
    }
    const op = message.op === 'replicate' ? { op: 'replicate' as const, p: partition, k: job.req.key, c: message.clock } : { op: 'read' as const, p: partition, k: job.req.key };
    deps.outbox.call(deps.subjects.replica(node), op, deadlineMs, reply);
  }

  function start(state: State, self: any): State {
    if (job.kind === 'get') {
      deps.counters.gets++;
      const q = quorum(replicas.length, job.req.r ?? settings.r);
      for (const node of replicas) ask(node, { op: 'read' }, self);
      return { ...state, quorum: q };
    }
    if (!replicas.includes(nodeId)) {
      if (job.forwarded) {
        answer(errorReply(new DkvError('internal', `${nodeId} was sent a write for partition ${partition} it does not replicate: ring views differ`)));
        setImmediate(() => nact.stop(self));
        return { ...state, done: true };
      }
      deps.counters.forwardedWrites++;
      forward(job.req, self);
      return state;
    }
    // Dynamo §6.4: the coordinator is a replica; its own vnode makes the new version first.
    deps.counters.writes++;
    const q = quorum(replicas.length, job.req.w ?? settings.w);
    ask(nodeId, { op: 'coordinate', req: job.req }, self);
    return { ...state, quorum: q };
  }

  function onRead(state: State, _node: string, result: ReplicaResult, finish: (b: object) => State): State {
    const q = record(state.quorum!, result.ok);
    const clocks = result.ok && result.clock ? [...state.clocks, result.clock] : state.clocks;
    const v = verdict(q);
    if (v === 'waiting') return { ...state, quorum: q, clocks };
    if (v === 'failed') return finish(errorReply(new DkvError('unavailable', describe(q, 'read'))));
    const merged = reconcile(clocks);
    const req = job.req as GetRequest;
    return finish(getReply(req.key, liveValues(merged) as Uint8Array[], encodeContext(join(merged)), req.encoding));
  }

  /** The local replica made the new version: replicate it now, while it is committed locally. */
  function onComputed(state: State, clock: StoredClock, self: any): State {
    for (const other of replicas) if (other !== nodeId) ask(other, { op: 'replicate', clock }, self);
    return { ...state, written: clock };
  }

  function onWrite(state: State, node: string, result: ReplicaResult, finish: (b: object) => State): State {
    if (node === nodeId && !result.ok && state.written === undefined) {
      return finish(errorReply(new DkvError('internal', `the coordinating replica ${nodeId} could not write: ${result.error}`)));
    }
    const q = record(state.quorum!, result.ok);
    const v = verdict(q);
    if (v === 'waiting') return { ...state, quorum: q };
    if (v === 'failed') return finish(errorReply(new DkvError('unavailable', describe(q, 'write'))));
    if (job.kind === 'delete') return finish({ ok: true });
    return finish({ ok: true, context: encodeContext(putReplyContext(state.written!, (job.req as WriteRequest).context)) });
  }

  function forward(req: WriteRequest, self: any): void {
    const body = { op: 'coordinate' as const, kind: job.kind, req };
    (async () => {
      let lastError: ErrorReply | undefined;
      for (const node of replicas) {
        const remaining = deadlineMs - Date.now();
        if (remaining <= 0) break;
        try {
          const reply = await deps.nc.request(deps.subjects.coordinate(node), encodeInternal(body), { timeout: remaining });
          return decodeInternal<object>(reply.data);
        } catch (err) {
          lastError = errorReply(new DkvError('unavailable', `forwarding to ${node} failed: ${(err as Error).message}`));
        }
      }
      return lastError ?? errorReply(new DkvError('timeout', 'deadline passed before the write could be forwarded'));
    })().then((b) => nact.dispatch(self, { type: 'forwarded', body: b }));
  }
}

