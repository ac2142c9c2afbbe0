/**
 * gateway: turns each public request (DESIGN.md §3) into a coordinator, and answers the
 * node-local ones (peek, status) itself. Requests are validated in src/protocol.ts before any
 * actor sees them, so a client's message can only ever produce an error reply.
 *
 * Policy: resume. The gateway holds no state a restart could repair; the message that crashed
 * it is answered `internal` and logged.
 */
import nact from 'nact';
import type { Msg } from '@nats-io/transport-node';
import { encodeContext } from '../src/context.ts';
import { join, liveValues } from '../src/dvvset.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { encodeValue, parseDelete, parseGet, parseNodeRequest, parsePeek, parsePut, parseStatus, type Encoding, type Limits, type WriteRequest } from '../src/protocol.ts';
import { spawnCoordinator, type CoordinatorDeps, type Respond } from './coordinator.ts';
import { resumeOnCrash } from './supervision.ts';
import type { ReplicaResult } from './vnode.ts';

export type ClientKind = 'get' | 'put' | 'delete' | 'peek' | 'status' | 'join' | 'leave';

export type GatewayMsg =
  | { type: 'client'; kind: ClientKind; msg: Msg }
  | { type: 'forwarded'; msg: Msg };

export interface GatewayDeps extends CoordinatorDeps {
  status(): Promise<object>;
}

const encoder = new TextEncoder();

export function jsonResponder(msg: Msg): Respond {
  return (body) => {
    if (msg.reply) msg.respond(encoder.encode(JSON.stringify(body)));
  };
}

export function spawnGateway(parent: any, deps: GatewayDeps): any {
  const limits: Limits = { n: deps.settings.n, keyBytesMax: deps.settings.keyBytesMax, valueBytesMax: deps.settings.valueBytesMax };

  const handleClient = (self: any, kind: ClientKind, msg: Msg) => {
    const respond = jsonResponder(msg);
    try {
      switch (kind) {
        case 'get':
          return spawnCoordinator(self, deps, { kind: 'get', req: parseGet(msg.data, limits) }, respond);
        case 'put':
          return spawnCoordinator(self, deps, { kind: 'put', req: parsePut(msg.data, limits), forwarded: false }, respond);
        case 'delete':
          return spawnCoordinator(self, deps, { kind: 'delete', req: parseDelete(msg.data, limits), forwarded: false }, respond);
        case 'peek': {
          const req = parsePeek(msg.data, limits);
          return peek(req.key, req.encoding, respond);
        }
        case 'status':
          parseStatus(msg.data, limits);
          deps.status().then(respond, (err) => respond(errorReply(err)));
          return;
        case 'join':
        case 'leave':
          parseNodeRequest(msg.data, limits);
          throw new DkvError('bad_request', `${kind} is not available yet: membership is static in this version (dkv node --members)`);
      }
    } catch (err) {
      respond(errorReply(err));
    }
  };

  const peek = (key: string, encoding: Encoding, respond: Respond) => {
    const ring = deps.ring();
    const partition = ring.partitionOf(key);
    const vnode = deps.vnode(partition);
    const answer = (clock: ReplicaResult) => {
      if (!clock.ok) return respond(errorReply(new DkvError('internal', clock.error)));
      const values = clock.clock ? (liveValues(clock.clock) as Uint8Array[]).map((v) => encodeValue(v, encoding)) : [];
      respond({ node: deps.nodeId, values, context: encodeContext(clock.clock ? join(clock.clock) : []) });
    };
    if (!vnode) return answer({ ok: true, clock: null });
    nact.dispatch(vnode, { type: 'read', key, reply: answer });
  };

  const handleForwarded = (self: any, msg: Msg) => {
    const respond: Respond = (body) => msg.respond(encodeInternal(body));
    const body = decodeInternal<{ op: 'coordinate'; kind: 'put' | 'delete'; req: WriteRequest }>(msg.data);
    spawnCoordinator(self, deps, { kind: body.kind, req: body.req, forwarded: true }, respond);
  };

  return nact.spawn(
    parent,
    (state: null, m: GatewayMsg, ctx: any) => {
      if (m.type === 'client') handleClient(ctx.self, m.kind, m.msg);
      else handleForwarded(ctx.self, m.msg);
      return state;
    },
    'gateway',
    {
      initialState: null,
      onCrash: resumeOnCrash<GatewayMsg>(deps.log, (m, err) => {
        const body = errorReply(new DkvError('internal', `gateway crashed: ${(err as Error).message}`));
        if (m.type === 'client') jsonResponder(m.msg)(body);
        else m.msg.respond(encodeInternal(body));
      }),
    },
  );
}
