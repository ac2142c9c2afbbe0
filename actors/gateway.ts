/**
 * gateway: turns each public request (DESIGN.md §3) into a coordinator, and answers the
 * node-local ones (peek, status) itself. Requests are validated in src/protocol.ts before any
 * actor sees them, so a client's message can only ever produce an error reply.
 *
 * The gateway is stateless, so it handles each message at once in the NATS callback instead of
 * queueing it: a nact mailbox takes one message per event-loop turn, and one mailbox in front of
 * every request of the node would make that the node's throughput. It is an actor of its own
 * kind: no mailbox, its policy applied where each message is handled.
 *
 * Policy: resume. The gateway holds no state a restart could repair; the message that crashed
 * it is answered `internal`, the decision is logged like any other, and the next one is taken.
 */
import nact from 'nact';
import type { TransportMsg as Msg } from './transport.ts';
import { liveValuesAt, readContext } from '../src/replica.ts';
import { readReplyBody } from './readReply.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { encodeInternal } from '../src/codec.ts';
import { parseForwardedWrite, WireError, type WireForwardedWrite } from '../src/wire.ts';
import type { WireRejections } from './wireRejections.ts';
import { admit, overloadedMessage, release, type Admission } from '../src/admission.ts';
import type { Foreground } from './foreground.ts';
import { encodeValue, parseBatch, parseDelete, parseGet, parseNodeRequest, parsePeek, parsePut, parseStatus, type BatchOp, type Encoding, type Limits } from '../src/protocol.ts';
import { spawnRequest } from './conditionalWrite.ts';
import { spawnCoordinator, type CoordinatorDeps, type ForwardedWrite, type Job, type Respond } from './coordinator.ts';
import type { Outbox } from './outbox.ts';
import { DEADLINE_HEADER } from '../src/subjects.ts';
import { logDecision } from './supervision.ts';
import { tallyError, tallyReply, type EndpointTally } from '../src/microService.ts';
import type { Clock } from './clock.ts';
import type { ReplicaResult } from './vnode.ts';
import type { RequestMetrics } from './metrics.ts';
import type { RequestOp } from '../src/metricLabels.ts';

export type ClientKind = 'get' | 'put' | 'delete' | 'batch' | 'peek' | 'status' | 'ring' | 'join' | 'leave';

export type GatewayMsg =
  | { type: 'client'; kind: ClientKind; msg: Msg; tally?: EndpointTally }
  | { type: 'forwarded'; msg: Msg };

export interface GatewayDeps extends CoordinatorDeps {
  /** The node's bound on client operations in progress (src/admission.ts). */
  readonly admission: Admission;
  /** Told how long each client operation took, to hold background work back (actors/foreground.ts). */
  readonly foreground?: Pick<Foreground, 'observe'>;
  /** Told of every client operation answered (actors/metrics.ts); forwarded writes are not client operations. */
  readonly metrics?: RequestMetrics;
  /** Where malformed internal messages are counted and logged (actors/wireRejections.ts). */
  readonly rejected?: WireRejections;
  status(): Promise<object>;
  /** The ring this node routes by: what a ring-aware client needs to pick a node per key. */
  ringInfo(): { version: number; n: number; assignment: readonly string[] };
  /** Stages a membership change (actors/admin.ts checks it first). */
  admin(kind: 'join' | 'leave', node: string): Promise<object>;
}

const encoder = new TextEncoder();
const OVERLOADED_ERROR = 'overloaded: refused before it was parsed';

/**
 * Client replies go through the node's outbox, coalesced with everything else of the turn. With a
 * `tally` (src/microService.ts), the first reply is counted in it: its time since now, and an error.
 */
export function jsonResponder(msg: Msg, outbox?: Outbox, tally?: EndpointTally, clock?: Clock): Respond {
  const arrivedMs = tally && clock ? clock.monotonicMs() : 0;
  let counted = false;
  return (body) => {
    if (tally && clock && !counted) {
      counted = true;
      tallyReply(tally, arrivedMs, clock.monotonicMs(), body);
    }
    const data = encoder.encode(JSON.stringify(body));
    if (outbox) outbox.respond(msg, data);
    else if (msg.reply) msg.respond(data);
  };
}

/** The client's deadline for this attempt (DEADLINE_HEADER), when it sent one. */
export function clientDeadline(msg: Msg): number | undefined {
  const raw = msg.headers?.get(DEADLINE_HEADER);
  const ms = raw ? Number(raw) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
}

export interface Gateway {
  /** Its path, the parent of its coordinators' in supervision lines. */
  readonly path: string;
  handle(m: GatewayMsg): void;
}

export function spawnGateway(parent: any, deps: GatewayDeps): Gateway {
  const limits: Limits = { n: deps.settings.n, keyBytesMax: deps.settings.keyBytesMax, valueBytesMax: deps.settings.valueBytesMax };
  const wireLimits = { ...limits, q: deps.settings.q };
  /** The refusal of an operation past the bound; a single request's is encoded once, since past its capacity a node spends least on it. */
  const overloaded = errorReply(new DkvError('overloaded', overloadedMessage(deps.admission)));
  const overloadedBytes = new TextEncoder().encode(JSON.stringify(overloaded));

  /** Gives the operation's place back when it is answered, once; a client's (`op`) is counted then. */
  const releasing = (respond: Respond, op: RequestOp | undefined): Respond => {
    let held = true;
    const startedMs = deps.clock.monotonicMs();
    return (body) => {
      if (held) {
        held = false;
        release(deps.admission, 1);
        const ms = deps.clock.monotonicMs() - startedMs;
        deps.foreground?.observe(ms);
        if (op !== undefined) deps.metrics?.answered(op, body, ms);
      }
      respond(body);
    };
  };
  /**
   * One operation, if the node has room for it (src/admission.ts); else `overloaded` at once,
   * before the request is even parsed: past its capacity a node must spend as little as it can
   * on each request it turns away.
   */
  const coordinate = (op: BatchOp['kind'], parse: () => BatchOp, clientDeadlineMs: number | undefined, respond: Respond, msg: Msg, tally: EndpointTally | undefined) => {
    if (!admit(deps.admission, 1)) {
      if (tally) tallyError(tally, OVERLOADED_ERROR);
      deps.metrics?.answered(op, overloaded, 0);
      return deps.outbox.respond(msg, overloadedBytes);
    }
    const answer = releasing(respond, op);
    try {
      spawnRequest(path, deps, jobOf(parse(), clientDeadlineMs), answer);
    } catch (err) {
      answer(errorReply(err));
    }
  };

  const handleClient = (kind: ClientKind, msg: Msg, tally: EndpointTally | undefined) => {
    const clientDeadlineMs = clientDeadline(msg);
    const respond = jsonResponder(msg, deps.outbox, tally, deps.clock);
    try {
      switch (kind) {
        case 'get':
          return coordinate('get', () => ({ kind: 'get', req: parseGet(msg.data, limits) }), clientDeadlineMs, respond, msg, tally);
        case 'put':
          return coordinate('put', () => ({ kind: 'put', req: parsePut(msg.data, limits) }), clientDeadlineMs, respond, msg, tally);
        case 'delete':
          return coordinate('delete', () => ({ kind: 'delete', req: parseDelete(msg.data, limits) }), clientDeadlineMs, respond, msg, tally);
        case 'batch':
          return batch(msg.data, clientDeadlineMs, respond);
        case 'peek': {
          const req = parsePeek(msg.data, limits);
          return peek(req.key, req.encoding, respond);
        }
        case 'status':
          parseStatus(msg.data, limits);
          deps.status().then(respond, (err) => respond(errorReply(err)));
          return;
        case 'ring':
          // Same body as status: an empty JSON object.
          parseStatus(msg.data, limits);
          return respond(deps.ringInfo());
        case 'join':
        case 'leave': {
          const req = parseNodeRequest(msg.data, limits);
          deps.admin(kind, req.node).then(respond, (err) => respond(errorReply(err)));
          return;
        }
      }
    } catch (err) {
      respond(errorReply(err));
    }
  };

  /** A client's request as a coordinator's job: the same for a single request and a batch element. */
  const jobOf = (op: BatchOp, clientDeadlineMs: number | undefined): Job =>
    op.kind === 'get' ? { kind: 'get', req: op.req, clientDeadlineMs } : { kind: op.kind, req: op.req, forwarded: false, clientDeadlineMs };

  /**
   * Each request of a batch gets its own coordinator; one reply carries every answer, in order.
   * A batch is admitted whole or refused whole (src/admission.ts): refused, every operation in
   * it is `overloaded` and the client sends them again. The batch is counted once (op "batch",
   * until its last answer), and each operation in it under its own op; an element that is no
   * get, put or delete is in the batch's reply only.
   */
  const batch = (data: Uint8Array, clientDeadlineMs: number | undefined, reply: Respond) => {
    const startedMs = deps.clock.monotonicMs();
    const metrics = deps.metrics;
    const respond: Respond = metrics === undefined ? reply : (body) => {
      metrics.answered('batch', body, deps.clock.monotonicMs() - startedMs);
      reply(body);
    };
    let ops: ReturnType<typeof parseBatch>;
    try {
      ops = parseBatch(data, limits);
    } catch (err) {
      return respond(errorReply(err));
    }
    const results: object[] = new Array(ops.length);
    let outstanding = ops.length;
    deps.counters.batches++;
    deps.counters.batchedOps += ops.length;
    const admitted = admit(deps.admission, ops.filter((op) => !(op instanceof DkvError)).length);
    ops.forEach((op, i) => {
      const answer: Respond = (body) => {
        if (results[i] !== undefined) return;
        results[i] = body;
        if (--outstanding === 0) respond({ results });
      };
      if (op instanceof DkvError) return answer(errorReply(op));
      if (!admitted) {
        metrics?.answered(op.kind, overloaded, 0);
        return answer(overloaded);
      }
      const released = releasing(answer, op.kind);
      try {
        spawnRequest(path, deps, jobOf(op, clientDeadlineMs), released);
      } catch (err) {
        released(errorReply(err));
      }
    });
  };

  const peek = (key: string, encoding: Encoding, respond: Respond) => {
    const ring = deps.ring();
    const partition = ring.partitionOf(key);
    const vnode = deps.vnode(partition);
    // Called in the vnode's turn: whatever goes wrong in building the answer stays here.
    const answer = (r: ReplicaResult) => {
      if (!r.ok) return respond(errorReply(new DkvError('internal', r.error)));
      respond(
        readReplyBody(deps, 'peek', () => ({
          node: deps.nodeId,
          values: r.clock ? liveValuesAt(r.clock, deps.clock.now()).map((v) => encodeValue(v, encoding)) : [],
          context: readContext(r.clock),
        })),
      );
    };
    if (!vnode) return answer({ ok: true, clock: null });
    nact.dispatch(vnode, { type: 'read', key, reply: answer });
  };

  const handleForwarded = (msg: Msg) => {
    const respond: Respond = (body) => deps.outbox.respond(msg, encodeInternal(body));
    let body: WireForwardedWrite;
    try {
      body = parseForwardedWrite(msg.data, wireLimits);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      deps.rejected?.note('coordinate', err.message);
      return respond(errorReply(new DkvError('bad_request', `malformed forwarded write: ${err.message}`)));
    }
    // The forwarder's client gave up already (this node was slow to get it): do not apply it.
    if (body.clientDeadlineMs !== undefined && body.clientDeadlineMs < deps.clock.now()) return;
    if (!admit(deps.admission, 1)) return respond(overloaded);
    spawnCoordinator(path, deps, { kind: body.kind, req: body.req, forwarded: true, clientDeadlineMs: body.clientDeadlineMs }, releasing(respond, undefined));
  };

  // An actor of its own, not nact's: it never queues a message (see above), so a nact actor here
  // would only ever have held a name. Its path is the coordinators' parent in supervision lines.
  const path = `${String(parent.path)}/gateway`;
  const handle = (m: GatewayMsg): void => {
    try {
      if (m.type === 'client') handleClient(m.kind, m.msg, m.tally);
      else handleForwarded(m.msg);
    } catch (err) {
      logDecision(deps.log, path, err, 'resume');
      const body = errorReply(new DkvError('internal', `gateway crashed: ${(err as Error).message}`));
      if (m.type === 'client') jsonResponder(m.msg, deps.outbox, m.tally, deps.clock)(body);
      else deps.outbox.respond(m.msg, encodeInternal(body));
    }
  };
  return { path, handle };
}
