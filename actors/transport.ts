/**
 * The bus, as the actors use it: request/reply, publish with a reply subject, subscriptions with
 * an optional queue group, and "no responders" (a request to a subject nobody serves fails at
 * once; a publish with a reply subject gets a status message with header code 503 there).
 *
 * nats.js' connection satisfies it as it is (checked below at compile time), so the seam costs
 * nothing on the data path: no adapter object per message. The simulation's bus (test/sim/)
 * implements it too, which is how the real actors run on a simulated network.
 */
import type { NatsConnection } from '@nats-io/transport-node';

export interface TransportHeaders {
  /** A status message's code: 503 for "no responders". */
  readonly code: number;
  get(name: string): string;
}

export interface TransportMsg {
  readonly subject: string;
  readonly data: Uint8Array;
  readonly reply?: string | undefined;
  readonly headers?: TransportHeaders | undefined;
  respond(data?: Uint8Array): boolean;
}

export interface TransportSubscription {
  unsubscribe(): void;
}

export interface Transport {
  /** Rejects with an error whose message says "no responders" when nobody serves `subject` (src/errors.ts isNoResponders), or on timeout. */
  request(subject: string, data?: Uint8Array, opts?: { timeout: number }): Promise<TransportMsg>;
  publish(subject: string, data?: Uint8Array, opts?: { reply?: string }): void;
  subscribe(subject: string, opts?: { queue?: string; callback?: (err: Error | null, msg: TransportMsg) => void }): TransportSubscription;
  flush(): Promise<void>;
  /** The largest message the bus takes, when it says (NATS: the server's max_payload). */
  readonly info?: { readonly max_payload: number } | undefined;
}

// nats.js' connection is a Transport without an adapter.
const natsIsATransport = (nc: NatsConnection): Transport => nc;
void natsIsATransport;
