/**
 * The NATS micro-service discovery protocol (ADR-32, "Service API"), as dkv speaks it: every node
 * answers `$SRV.PING|INFO|STATS`, `…<name>` and `…<name>.<id>` with the JSON of the
 * `io.nats.micro.v1.*_response` schemas, so that `nats micro ls|info|stats dkv` list the nodes.
 * Only the discovery half: the endpoints stay dkv's own subscriptions, on the subjects and queue
 * group of DESIGN.md §3 (docs/operations.md says why not @nats-io/services). Pure: the figures
 * come in as plain numbers.
 */

/** The service name every node registers under. */
export const MICRO_SERVICE_NAME = 'dkv';

export type MicroVerb = 'PING' | 'INFO' | 'STATS';

/** The nine subjects a service instance answers: per verb, every service, this name, this instance. */
export function microSubjects(name: string, id: string): Array<{ verb: MicroVerb; subject: string }> {
  return (['PING', 'INFO', 'STATS'] as const).flatMap((verb) => [`$SRV.${verb}`, `$SRV.${verb}.${name}`, `$SRV.${verb}.${name}.${id}`].map((subject) => ({ verb, subject })));
}

/**
 * One endpoint's running figures, counted in place where its requests are handled: a request on
 * arrival, then at its reply the time it took and whether the reply was an error.
 */
export interface EndpointTally {
  requests: number;
  errors: number;
  lastError: string;
  /** Sum over the answered requests of arrival to reply, in milliseconds. */
  processingMs: number;
}

export const newTally = (): EndpointTally => ({ requests: 0, errors: 0, lastError: '', processingMs: 0 });

/** Counts a reply in `tally`: its time since `arrivedMs` and, when its body says `error`, an error. */
export function tallyReply(tally: EndpointTally, arrivedMs: number, nowMs: number, body: object): void {
  tally.processingMs += nowMs - arrivedMs;
  const error = (body as { error?: { code?: unknown; message?: unknown } }).error;
  if (error !== undefined) tallyError(tally, error && typeof error === 'object' ? `${String(error.code)}: ${String(error.message)}` : String(error));
}

export function tallyError(tally: EndpointTally, message: string): void {
  tally.errors++;
  tally.lastError = message;
}

/** An endpoint as INFO and STATS list it. */
export interface MicroEndpoint {
  readonly name: string;
  readonly subject: string;
  /** The queue group it is subscribed with; '' when every node gets every request. */
  readonly queueGroup: string;
  readonly tally: EndpointTally;
}

export interface MicroIdentity {
  readonly name: string;
  readonly id: string;
  readonly version: string;
  /** String values only: the Go tools read it as map[string]string. */
  readonly metadata: Readonly<Record<string, string>>;
}

export function pingResponse(who: MicroIdentity): object {
  return { type: 'io.nats.micro.v1.ping_response', name: who.name, id: who.id, version: who.version, metadata: who.metadata };
}

export function infoResponse(who: MicroIdentity, description: string, endpoints: readonly MicroEndpoint[]): object {
  return {
    type: 'io.nats.micro.v1.info_response',
    name: who.name,
    id: who.id,
    version: who.version,
    metadata: who.metadata,
    description,
    endpoints: endpoints.map((e) => ({ name: e.name, subject: e.subject, queue_group: e.queueGroup, metadata: null })),
  };
}

const NS_PER_MS = 1_000_000;

/** `startedMs` is the epoch milliseconds the node started at; times are integer nanoseconds, as the Go tools read them. */
export function statsResponse(who: MicroIdentity, startedMs: number, endpoints: readonly MicroEndpoint[]): object {
  return {
    type: 'io.nats.micro.v1.stats_response',
    name: who.name,
    id: who.id,
    version: who.version,
    metadata: who.metadata,
    started: new Date(startedMs).toISOString(),
    endpoints: endpoints.map(({ name, subject, queueGroup, tally }) => {
      const processing = Math.round(tally.processingMs * NS_PER_MS);
      return {
        name,
        subject,
        queue_group: queueGroup,
        num_requests: tally.requests,
        num_errors: tally.errors,
        last_error: tally.lastError,
        processing_time: processing,
        average_processing_time: tally.requests > 0 ? Math.round(processing / tally.requests) : 0,
      };
    }),
  };
}
