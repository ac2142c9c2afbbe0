/**
 * The public subjects and the `coordinate` subject, handed to the gateway. Subscribed only once
 * this node is in a cluster: a node waiting to be joined has no ring to coordinate with, and a
 * queue member that only answers "unavailable" would fail requests.
 */
import type { Clock } from './clock.ts';
import type { Subjects } from '../src/subjects.ts';
import { clientDeadline, type ClientKind, type Gateway } from './gateway.ts';
import type { Logger } from 'pino';
import type { Subscribe } from './subscriptions.ts';
import { newTally, tallyError, type EndpointTally, type MicroEndpoint } from '../src/microService.ts';
import type { TransportMsg as Msg } from './transport.ts';

export interface ClientSubjects {
  /** Subscribes the client subjects, once, when the node has a ring; a no-op otherwise. */
  serve(): void;
  /** Requests dropped because their client had already given up on them. */
  expired(): number;
  /** The endpoints served so far, with their counts: what `$SRV.INFO|STATS` list (actors/microService.ts). */
  readonly endpoints: readonly MicroEndpoint[];
}

const EXPIRED_ERROR = "dropped: the client's deadline had passed";

export function clientSubjects(deps: {
  readonly id: string;
  readonly clock: Clock;
  readonly subjects: Subjects;
  readonly subscribe: Subscribe;
  readonly gateway: Gateway;
  readonly log: Logger;
  hasRing(): boolean;
  /** Key listing (actors/keyListing.ts): answered apart from the gateway, which only spawns get/put coordinators. */
  readonly keys?: { handle(msg: Msg, tally: EndpointTally): void };
}): ClientSubjects {
  const { id, subjects, subscribe, gateway, log } = deps;
  let expired = 0;
  let serving = false;
  const endpoints: MicroEndpoint[] = [];
  const client = (subject: string, kind: ClientKind | 'keys', queue: boolean, name: string = kind, handle?: (msg: Msg, tally: EndpointTally) => void) => {
    const tally = newTally();
    endpoints.push({ name, subject, queueGroup: queue ? subjects.queue : '', tally });
    subscribe(subject, {
      ...(queue ? { queue: subjects.queue } : {}),
      callback: (err, msg) => {
        if (err) return log.warn({ err: err.message, subject }, 'subscription error');
        tally.requests++;
        if ((clientDeadline(msg) ?? Infinity) < deps.clock.now()) {
          expired++;
          tallyError(tally, EXPIRED_ERROR);
          return; // the client gave up on this attempt (this node was stalled); it has retried
        }
        if (handle) handle(msg, tally);
        else gateway.handle({ type: 'client', kind: kind as ClientKind, msg, tally });
      },
    });
  };

  return {
    endpoints,
    expired: () => expired,
    serve: () => {
      if (serving || !deps.hasRing()) return;
      serving = true;
      client(subjects.get, 'get', true);
      client(subjects.put, 'put', true);
      client(subjects.delete, 'delete', true);
      client(subjects.batch, 'batch', true);
      client(subjects.nodeBatch(id), 'batch', false, 'node-batch');
      client(subjects.ring, 'ring', true);
      client(subjects.status, 'status', true);
      if (deps.keys) client(subjects.keys, 'keys', true, 'keys', deps.keys.handle);
      client(subjects.adminJoin, 'join', true, 'admin-join');
      client(subjects.adminLeave, 'leave', true, 'admin-leave');
      client(subjects.peek(id), 'peek', false);
      subscribe(subjects.coordinate(id), {
        callback: (err, msg) => {
          if (!err) gateway.handle({ type: 'forwarded', msg });
        },
      });
    },
  };
}
