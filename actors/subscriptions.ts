/**
 * The node's NATS subscriptions, kept in one list so that a stop unsubscribes every one. Every
 * callback runs inside nats.js's reader: a throw there would end the reader, so whatever a
 * handler throws is caught, logged as a supervision decision, and the next message is taken.
 */
import type { TransportMsg as Msg, Transport as NatsConnection, TransportSubscription as Subscription } from './transport.ts';
import type { Logger } from 'pino';
import { logDecision } from './supervision.ts';

export type Subscribe = (subject: string, opts: { queue?: string; callback: (err: Error | null, msg: Msg) => void }) => Subscription;

export class Subscriptions {
  readonly #all: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly id: string,
  ) {}

  /** Subscribes with the guard above; the subscription is kept for `close`. */
  readonly subscribe: Subscribe = (subject, opts) =>
    this.add(
      this.nc.subscribe(subject, {
        ...opts,
        callback: (err, msg) => {
          try {
            opts.callback(err, msg);
          } catch (e) {
            logDecision(this.log, `dkv-${this.id}://node/nats/${subject}`, e, 'resume');
          }
        },
      }),
    );

  /** Keeps a subscription made otherwise (on another connection) for `close`. */
  add(s: Subscription): Subscription {
    this.#all.push(s);
    return s;
  }

  close(): void {
    for (const s of this.#all) s.unsubscribe();
  }
}
