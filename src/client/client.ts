/**
 * The TypeScript client library: the public protocol (DESIGN.md §3) as functions. Used by the
 * CLI and the tests; error replies become DkvError with the protocol's code.
 *
 * Pipelining: get/put/delete calls made in the same event-loop turn travel together as one
 * request on `dkv.<cluster>.batch` (each element is the body of the single request plus "op";
 * the reply holds each single reply, in order). A node then decodes one message for all of them
 * and answers once, and the bus carries one message each way instead of one per call: measured
 * in docs/performance.md. Where the batches go is src/client/batcher.ts's: with a known ring of N
 * nodes or fewer, a turn's calls are one batch to the node with the fewest of this client's
 * operations in flight; otherwise gets and writes go in separate batches, so that reads are not
 * held up by the writes' disk commits. A lone call costs the same as before; `pipeline: false`
 * sends every call on its own subject.
 *
 * Ring-aware routing (`routing: true`, off by default): the client keeps the ring (`dkv.<cluster>.ring`,
 * refreshed every few seconds) and sends each batch to a node that holds its keys
 * (`dkv.<cluster>.node.<ID>.batch`), as Cassandra's token-aware drivers do. A node that holds no
 * replica of a key must forward a write and ask every replica of a read, which costs a hop; with
 * more nodes than N, most requests would otherwise land on such a node. The ring is only a hint:
 * a node gone (no responders) or silent sends the batch on to the queue group, as without it.
 *
 * Coordinator hints (`coordinatorHints`, on by default; needs `pipeline`): a get's context names
 * the owner that answered it first, a put's the owner that coordinated it (src/context.ts, "c2").
 * A put or delete carrying such a context goes to that node's batch subject, so that node
 * coordinates it (Dynamo §6.4): it holds the version the context was read from, so the write
 * needs no forwarding hop and a read there next sees it. With the ring known and more nodes than
 * N, writes of one turn are batched by the node named; writes naming none are routed as above,
 * joining those batches where the ring says the node holds their key. With a known ring of N
 * nodes or fewer every node holds every key and no hop is saved: hints are not followed there.
 * Without a ring, the turn's writes stay one batch, sent to the node most of them name. A write
 * retried after `overloaded` does not follow its hint. Only a hint, with the ring's fallback: a
 * node named that is gone or silent gets the batch sent on to the queue group; nodes never read
 * it, and a damaged one is no hint.
 */
import { connect, errors as natsErrors, headers, type NatsConnection } from '@nats-io/transport-node';
import { describeConnectError, natsConnectionOptions, type NatsAuth } from '../nats/connectOptions.ts';
import { DEADLINE_HEADER } from '../subjects.ts';
import { contextCoordinator } from '../context.ts';
import { DkvError, isNoResponders } from '../errors.ts';
import { Ring } from '../ring.ts';
import { BATCH_CHARS_MAX, Batcher, replyOrThrow, type KnownRing } from './batcher.ts';
import { parseChangeEvent, type ChangeEvent } from '../changeFeed.ts';
import { isValidName, subjectsFor, type Subjects } from '../subjects.ts';

/** The client could not connect, or NATS refused what it asked (one line, for people). */
export class NatsConnectError extends Error {
  override readonly name = 'NatsConnectError';
}

function permissionRefusal(err: unknown): string | undefined {
  for (let e = err as { cause?: unknown; message?: string } | undefined, depth = 0; e && depth < 3; e = e.cause as typeof e, depth++) {
    if (e instanceof natsErrors.PermissionViolationError) return e.message;
  }
  return undefined;
}

export interface ClientOptions {
  /** One URL or several, comma-separated; `nats://user:pass@host:port` and `tls://` work too. */
  readonly servers: string;
  /** Credentials and TLS for a secured NATS (src/nats/connectOptions.ts). */
  readonly auth?: NatsAuth;
  readonly cluster?: string;
  /** Longer than the nodes' own request deadline, so their `timeout` reply arrives first. */
  readonly timeoutMs?: number;
  /**
   * Per-attempt wait (default: half of `timeoutMs`, at least 500 ms): an attempt that gets
   * no reply is sent again (NATS picks another node of the queue group most of the time). A
   * stalled or dead node keeps its share of the queue group until NATS drops it, so a client
   * retries rather than wait its whole deadline. A retried write may be applied twice, as a
   * sibling of itself, as in any Dynamo store. `overloaded` answers are retried too, after a
   * jittered exponential pause, within the deadline.
   */
  readonly attemptTimeoutMs?: number;
  readonly encoding?: 'base64';
  /** Calls of one turn share one batch request (the default); false: one request per call. */
  readonly pipeline?: boolean;
  /** Batches go to a node that holds their keys, by the ring (see above); needs `pipeline`. */
  readonly routing?: boolean;
  /** A put or delete goes to the node its context names (see above; default true); needs `pipeline`. */
  readonly coordinatorHints?: boolean;
}

/** How often a routing client asks for the ring again; a change in between only costs hops. */
const RING_REFRESH_MS = 5_000;
const RING_REQUEST_TIMEOUT_MS = 2_000;
/** Backoff after an `overloaded` answer: first wait, and the most it grows to. */
export const OVERLOADED_BACKOFF_MS_MIN = 20;
export const OVERLOADED_BACKOFF_MS_MAX = 1_000;
/**
 * Pause after an attempt that failed at once without a reply (the connection is down and
 * reconnecting): doubled each time up to the max, so that a call waiting out an outage does not
 * spin on requests that fail in microseconds.
 */
export const FAILED_ATTEMPT_PAUSE_MS_MIN = 25;
export const FAILED_ATTEMPT_PAUSE_MS_MAX = 500;
/**
 * Default per-attempt wait: half the deadline (at least 500 ms), so a request lost with a node
 * that died is sent again (to another node of the queue group) within the deadline. Not less:
 * by then a live node has answered, if only with its own `timeout` (its deadline is 5 s by
 * default, the client's 10 s), and each retried write may land twice.
 */
export function defaultAttemptTimeoutMs(timeoutMs: number): number {
  return Math.min(timeoutMs, Math.max(500, Math.floor(timeoutMs / 2)));
}

export interface GetResult {
  key: string;
  found: boolean;
  values: string[];
  context: string;
}

export class DkvClient {
  /** Pipelining: this turn's calls, and where their batches go (src/client/batcher.ts). */
  readonly #batcher: Batcher;
  /** Routing only: the newest ring heard of, undefined until one is (or while none answers). */
  #ring: KnownRing | undefined;
  #ringTimer: NodeJS.Timeout | undefined;
  /** The ring request in flight, shared by everyone who wants the ring meanwhile. */
  #ringAsked: Promise<void> | undefined;
  /** Requests sent again after an `overloaded` answer, since this client was made. */
  overloadedRetries = 0;

  private constructor(
    readonly nc: NatsConnection,
    readonly subjects: Subjects,
    private readonly timeoutMs: number,
    private readonly ownsConnection: boolean,
    private readonly attemptTimeoutMs = timeoutMs,
    private readonly pipeline = true,
    routing = false,
    private readonly coordinatorHints = true,
  ) {
    this.#batcher = new Batcher(
      () => this.#ring,
      (node, data) => this.#sendTo(node, data),
    );
    if (routing && pipeline) {
      this.#ringTimer = setInterval(() => void this.refreshRing(), RING_REFRESH_MS).unref();
      void this.refreshRing();
    }
  }

  static async connect(opts: ClientOptions): Promise<DkvClient> {
    let nc: NatsConnection;
    try {
      nc = await connect({ ...natsConnectionOptions(opts.servers, opts.auth), name: 'dkv-client', noAsyncTraces: true });
    } catch (err) {
      throw new NatsConnectError(describeConnectError(err, opts.servers), { cause: err });
    }
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const client = new DkvClient(nc, subjectsFor(opts.cluster ?? 'local'), timeoutMs, true, Math.min(opts.attemptTimeoutMs ?? defaultAttemptTimeoutMs(timeoutMs), timeoutMs), opts.pipeline ?? true, opts.routing ?? false, opts.coordinatorHints ?? true);
    if (client.#ringTimer) await client.refreshRing();
    return client;
  }

  static over(nc: NatsConnection, cluster = 'local', timeoutMs = 10_000, pipeline = true, routing = false, coordinatorHints = true): DkvClient {
    return new DkvClient(nc, subjectsFor(cluster), timeoutMs, false, timeoutMs, pipeline, routing, coordinatorHints);
  }

  /** The ring version batches are routed by (routing only; undefined: none known, queue group). */
  get ringVersion(): number | undefined {
    return this.#ring?.version;
  }

  /**
   * Asks a node for the ring and keeps it. A reply that is not a ring is ignored; no node
   * answering drops the ring, so batches go to the queue group until one answers again.
   */
  refreshRing(): Promise<void> {
    this.#ringAsked ??= this.#askRing().finally(() => (this.#ringAsked = undefined));
    return this.#ringAsked;
  }

  async #askRing(): Promise<void> {
    try {
      const msg = await this.nc.request(this.subjects.ring, encoder.encode('{}'), { timeout: RING_REQUEST_TIMEOUT_MS });
      const body = JSON.parse(new TextDecoder().decode(msg.data));
      const { version, n, assignment } = body ?? {};
      if (!Number.isInteger(version) || !Number.isInteger(n) || n < 1 || !Array.isArray(assignment) || !assignment.every((a) => typeof a === 'string' && isValidName(a))) return;
      if (this.#ring && this.#ring.version === version && this.#ring.ring.assignment.join() === assignment.join()) return;
      this.#ring = { version, n, ring: new Ring(assignment) };
    } catch (err) {
      if (isNoResponders(err)) this.#ring = undefined;
      // Otherwise (a timeout, a malformed reply) the ring known so far stays.
    }
  }

  /** Sends a body as is and returns the reply as is, errors included: for tests and `--json`. */
  async raw(subject: string, body: unknown | Uint8Array, deadlineMs = Date.now() + this.timeoutMs): Promise<any> {
    const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body));
    let pauseMs = FAILED_ATTEMPT_PAUSE_MS_MIN;
    for (;;) {
      const remaining = deadlineMs - Date.now();
      const attemptMs = Math.max(1, Math.min(this.attemptTimeoutMs, remaining));
      const startedMs = Date.now();
      try {
        return await this.#attempt(subject, data, attemptMs);
      } catch (err) {
        if (isNoResponders(err)) throw new DkvError('unavailable', `no dkv node answers on ${subject}`, { cause: err });
        // Waiting cannot mend a refusal by NATS's permissions: say so at once.
        const refusal = permissionRefusal(err);
        if (refusal !== undefined) throw new NatsConnectError(`NATS permissions refuse this user on ${subject}: ${refusal}`, { cause: err });
        // A closed connection (it gave up reconnecting, or was closed) never comes back: say so.
        if (this.nc.isClosed()) throw new DkvError('unavailable', `the NATS connection is closed: ${(err as Error).message}`, { cause: err });
        if (deadlineMs - Date.now() <= 0) throw new DkvError('timeout', `no reply on ${subject} within ${this.timeoutMs} ms`, { cause: err });
        // Failed long before its timeout: nothing was waited for, so wait before the next one.
        if (Date.now() - startedMs < attemptMs / 2) {
          await new Promise((r) => setTimeout(r, Math.min(pauseMs, Math.max(0, deadlineMs - Date.now()))));
          pauseMs = Math.min(pauseMs * 2, FAILED_ATTEMPT_PAUSE_MS_MAX);
        }
      }
    }
  }

  /**
   * One request. Its deadline travels with it, so a node that gets it late (it was stalled) drops
   * it instead of applying a write this client has already sent again elsewhere.
   */
  async #attempt(subject: string, data: Uint8Array, timeout: number): Promise<any> {
    const h = headers();
    h.set(DEADLINE_HEADER, String(Date.now() + timeout));
    const msg = await this.nc.request(subject, data, { timeout, headers: h });
    return JSON.parse(new TextDecoder().decode(msg.data));
  }

  /** One request and its reply, with `overloaded` backing off and retrying. */
  private call(subject: string, body: unknown): Promise<any> {
    return this.#backingOff(() => this.#once(subject, body));
  }

  async #once(subject: string, body: unknown): Promise<any> {
    return replyOrThrow(await this.raw(subject, body));
  }

  /**
   * Like `raw`, but an `overloaded` reply is sent again after a jittered, growing pause, within
   * the deadline (what the CLI uses). The last reply is returned as is.
   */
  async rawRetrying(subject: string, body: unknown, deadlineMs = Date.now() + this.timeoutMs): Promise<any> {
    let last: any;
    try {
      return await this.#backingOff(async () => {
        last = await this.raw(subject, body, deadlineMs);
        if (last?.error?.code === 'overloaded') throw new DkvError('overloaded', String(last.error.message));
        return last;
      }, deadlineMs);
    } catch (err) {
      if (err instanceof DkvError && err.code === 'overloaded') return last;
      throw err;
    }
  }

  /**
   * `rawRetrying` for a put or delete (what the CLI uses): first to the node its context names
   * (coordinator hints, see above), as a batch of one whose one result is the single subject's
   * reply; a node gone, silent or `overloaded` sends it on to the queue group for the rest of the
   * deadline.
   */
  async rawWriteRetrying(op: 'put' | 'delete', body: Record<string, unknown>): Promise<any> {
    const subject = op === 'put' ? this.subjects.put : this.subjects.delete;
    const node = this.coordinatorHints ? contextCoordinator(body.context) : undefined;
    if (node === undefined) return this.rawRetrying(subject, body);
    const deadlineMs = Date.now() + this.timeoutMs;
    try {
      const reply = await this.#attempt(this.subjects.nodeBatch(node), encoder.encode(JSON.stringify({ ops: [{ op, ...body }] })), this.attemptTimeoutMs);
      const single = Array.isArray(reply?.results) && reply.results.length === 1 ? reply.results[0] : reply;
      if (single?.error?.code !== 'overloaded') return single;
    } catch (err) {
      if (!isNoResponders(err) && (err as Error)?.name !== 'TimeoutError') throw err;
    }
    return this.rawRetrying(subject, body, deadlineMs);
  }

  /**
   * Runs `attempt` again while it fails `overloaded` (the node shed it before applying anything),
   * pausing a random time between half and all of a wait that doubles from
   * OVERLOADED_BACKOFF_MS_MIN up to OVERLOADED_BACKOFF_MS_MAX, until the deadline.
   */
  async #backingOff<T>(attempt: () => Promise<T>, deadlineMs = Date.now() + this.timeoutMs): Promise<T> {
    let waitMs = OVERLOADED_BACKOFF_MS_MIN;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof DkvError) || err.code !== 'overloaded') throw err;
        const pauseMs = waitMs / 2 + (Math.random() * waitMs) / 2;
        if (Date.now() + pauseMs >= deadlineMs) throw err;
        this.overloadedRetries++;
        await new Promise((r) => setTimeout(r, pauseMs));
        waitMs = Math.min(waitMs * 2, OVERLOADED_BACKOFF_MS_MAX);
      }
    }
  }

  /** A get/put/delete: into this turn's batch, or on its own subject; `overloaded` backs off and retries. */
  private op(op: 'get' | 'put' | 'delete', subject: string, body: Record<string, unknown>): Promise<any> {
    // A write retried after `overloaded` no longer follows its context's hint: the node named is
    // the one that refused it, and asking it again backed some writes off for half a second on
    // workload B (a busy node stays busy for a few backoffs).
    let hinted = true;
    return this.#backingOff(() => {
      const attempt = this.#op(op, subject, body, hinted);
      hinted = false;
      return attempt;
    });
  }

  /** One attempt of `op` (its caller backs off): `#once` on its own subject, not `call`, whose loop would nest in this one. */
  #op(op: 'get' | 'put' | 'delete', subject: string, body: Record<string, unknown>, hinted: boolean): Promise<any> {
    if (!this.pipeline) return this.#once(subject, body);
    const json = JSON.stringify({ op, ...body });
    // Too big to share a batch: alone, exactly as the single request.
    if (json.length > BATCH_CHARS_MAX) return this.#once(subject, body);
    const read = op === 'get';
    const coordinator = !read && hinted && this.coordinatorHints ? contextCoordinator(body.context) : undefined;
    return new Promise((resolve, reject) => this.#batcher.add({ read, key: body.key as string, coordinator, json, resolve, reject }));
  }

  /**
   * To the node the ring or a context chose, once: a node gone (no responders) or silent for an
   * attempt gets the batch sent on to the queue group for the rest of the deadline, and a routing
   * client asks for the ring again. A write that was applied by the silent node may then be
   * applied twice, as with any retry.
   */
  async #sendTo(node: string | undefined, data: Uint8Array): Promise<any> {
    if (node === undefined) return this.raw(this.subjects.batch, data);
    const deadlineMs = Date.now() + this.timeoutMs;
    try {
      return await this.#attempt(this.subjects.nodeBatch(node), data, this.attemptTimeoutMs);
    } catch (err) {
      if (!isNoResponders(err) && (err as Error)?.name !== 'TimeoutError') throw err;
      // Only a routing client keeps a ring: asking here would turn routing on for any other.
      if (this.#ringTimer !== undefined) void this.refreshRing();
      return this.raw(this.subjects.batch, data, deadlineMs);
    }
  }

  get(key: string, opts: { r?: number; encoding?: 'base64' } = {}): Promise<GetResult> {
    return this.op('get', this.subjects.get, { key, ...opts });
  }

  /** `if`: applied only when the condition holds, else DkvError `conflict`; `ttl_ms`: the version expires that long after it is written. */
  put(key: string, value: string, opts: { context?: string; w?: number; encoding?: 'base64'; if?: 'absent' | 'current'; ttl_ms?: number } = {}): Promise<{ ok: true; context: string }> {
    return this.op('put', this.subjects.put, { key, value, ...opts });
  }

  delete(key: string, opts: { context?: string; w?: number; if?: 'absent' | 'current' } = {}): Promise<{ ok: true }> {
    return this.op('delete', this.subjects.delete, { key, ...opts });
  }

  /**
   * Calls `onChange` with each event of the change feed (src/changeFeed.ts) whose key starts with
   * `prefix`, until the returned function is called. At most once: events published while this
   * client is disconnected or slow are lost; catch up by listing keys and reading them.
   */
  watch(onChange: (e: ChangeEvent) => void, opts: { prefix?: string } = {}): () => void {
    const prefix = opts.prefix ?? '';
    const sub = this.nc.subscribe(this.subjects.changesAll, {
      callback: (err, msg) => {
        if (err) return;
        const e = parseChangeEvent(msg.data);
        if (e !== undefined && e.key.startsWith(prefix)) onChange(e);
      },
    });
    return () => sub.unsubscribe();
  }

  status(): Promise<any> {
    return this.call(this.subjects.status, {});
  }

  peek(node: string, key: string): Promise<{ node: string; values: string[]; context: string }> {
    return this.call(this.subjects.peek(node), { key });
  }

  join(node: string): Promise<{ ok: true }> {
    return this.call(this.subjects.adminJoin, { node });
  }

  leave(node: string): Promise<{ ok: true }> {
    return this.call(this.subjects.adminLeave, { node });
  }

  /**
   * One page of the key listing (`dkv.<cluster>.keys`): live keys in key order (Unicode code
   * point order), after `after`, with `prefix`, at most `limit` (1..1000). `next` null: the
   * listing is done; else ask again with `after: next`. A page may hold fewer than `limit` keys,
   * even none, while `next` is not null (a node bounds what one page scans).
   */
  keys(opts: { prefix?: string; after?: string; limit?: number } = {}): Promise<{ keys: string[]; next: string | null }> {
    return this.call(this.subjects.keys, opts);
  }

  /** Every live key with `prefix`, in key order, a page at a time (see `keys`). */
  async *allKeys(opts: { prefix?: string; limit?: number } = {}): AsyncGenerator<string> {
    let after: string | undefined;
    for (;;) {
      const page = await this.keys({ ...opts, ...(after !== undefined ? { after } : {}) });
      yield* page.keys;
      if (page.next === null) return;
      after = page.next;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#ringTimer);
    if (this.ownsConnection) await this.nc.close();
  }
}

const encoder = new TextEncoder();

