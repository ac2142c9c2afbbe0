/**
 * The node-to-node subjects other than replica batches (actors/replicaServer.ts): membership
 * gossip and join requests, transfer and anti-entropy pages, figures and heartbeats. Anyone on
 * the account can publish on them, so every request is checked (src/wire.ts) before an actor sees
 * it, and the ones that read storage are bounded.
 */
import type { TransportMsg as Msg, Transport as NatsConnection } from './transport.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { isValidName, type Subjects } from '../src/subjects.ts';
import { parseAeRequest, parseTransferRequest, type WireLimits } from '../src/wire.ts';
import type { AntiEntropy } from './antiEntropy.ts';
import type { Membership } from './membership.ts';
import type { Outbox } from './outbox.ts';
import type { Subscribe, Subscriptions } from './subscriptions.ts';
import type { Transfer } from './transfer.ts';
import type { WireRejections } from './wireRejections.ts';

/** Transfer or anti-entropy requests of peers served at once, per kind. Honest peers ask one at a time each. */
const INTERNAL_REQUESTS_IN_PROGRESS_MAX = 16;

export interface InternalDeps {
  readonly id: string;
  readonly subjects: Subjects;
  readonly subscriptions: Subscriptions;
  /** The connection heartbeats travel on, apart from the replica traffic (actors/health.ts). */
  readonly liveness: NatsConnection;
  readonly outbox: Outbox;
  readonly wireLimits: WireLimits;
  readonly rejected: WireRejections;
  readonly membership: Pick<Membership, 'incoming'>;
  readonly transfer: Pick<Transfer, 'serve'>;
  readonly antiEntropy: Pick<AntiEntropy, 'serve'>;
  /** Resolves when `node` answers its ping: a node to be let in must exist. */
  ping(node: string): Promise<Msg>;
  /** This node's own figures (actors/status.ts ownFigures). */
  figures(): object;
}

export function serveInternal(deps: InternalDeps): void {
  const { id, subjects, subscriptions, outbox, membership, ping } = deps;
  const subscribe = subscriptions.subscribe;

  subscribe(subjects.membership(id), {
    callback: (err, msg) => {
      if (err) return;
      const respond = (body: object) => outbox.respond(msg, encodeInternal(body));
      try {
        const body = decodeInternal<{ type?: unknown; view?: unknown; node?: unknown }>(msg.data);
        if (body?.type === 'gossip') return membership.incoming({ type: 'gossip', view: body.view }, respond);
        if (body?.type === 'join' && typeof body.node === 'string') {
          const node = body.node;
          if (!isValidName(node)) return respond(errorReply(new DkvError('bad_request', 'a join request names a node (A-Z a-z 0-9 _ -)')));
          // Anyone on the account can publish here: a node that does not answer is not let in.
          void ping(node).then(
            () => membership.incoming({ type: 'join', node }, respond),
            (err) => respond(errorReply(new DkvError('bad_request', `node ${node} does not answer (${(err as Error).message}); it is not let in`))),
          );
          return;
        }
        respond(errorReply(new DkvError('bad_request', 'membership message must be {type: "gossip", view} or {type: "join", node}')));
      } catch (e) {
        respond(errorReply(new DkvError('bad_request', `undecodable membership message: ${(e as Error).message}`)));
      }
    },
  });

  serveBounded(deps, subscribe, subjects.antiEntropy(id), 'anti-entropy', parseAeRequest, (req) => deps.antiEntropy.serve(req));
  serveBounded(deps, subscribe, subjects.transfer(id), 'transfer', parseTransferRequest, (req) => deps.transfer.serve(req));

  // Answered at once on the liveness connection, not queued behind the turn's replies.
  subscriptions.add(deps.liveness.subscribe(subjects.ping(id), { callback: (err, msg) => void (!err && msg.reply && msg.respond(new Uint8Array(0))) }));

  subscribe(subjects.stats(id), {
    callback: (err, msg) => {
      if (err) return;
      msg.respond(encodeInternal(deps.figures()));
    },
  });
}

/**
 * A node-to-node request subject whose requests are checked (`parse` throws on a malformed one)
 * and answered by an actor's `serve`; a malformed request gets an error reply, never an actor.
 */
function serveBounded<T>(deps: InternalDeps, subscribe: Subscribe, subject: string, what: string, parse: (data: Uint8Array, limits: WireLimits) => T, serve: (req: T) => Promise<object>): void {
  const { id, outbox } = deps;
  // Each request reads storage (a page, a list of keys): a bound on those served at once, so
  // that a stranger's flood of them is refused instead of piling up reads.
  let inProgress = 0;
  subscribe(subject, {
    callback: (err, msg) => {
      if (err) return;
      const respond = (body: object) => outbox.respond(msg, encodeInternal(body));
      if (inProgress >= INTERNAL_REQUESTS_IN_PROGRESS_MAX) return respond({ error: `overloaded: ${id} is serving ${inProgress} ${what} requests, at most ${INTERNAL_REQUESTS_IN_PROGRESS_MAX}` });
      let req: T;
      try {
        req = parse(msg.data, deps.wireLimits);
      } catch (e) {
        deps.rejected.note(what, (e as Error).message);
        return respond({ error: `malformed ${what} request: ${(e as Error).message}` });
      }
      inProgress++;
      serve(req)
        .then(respond, (e) => respond({ error: (e as Error).message }))
        .finally(() => inProgress--);
    },
  });
}
