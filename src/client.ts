/**
 * The TypeScript client library: the public protocol (DESIGN.md §3) as functions. Used by the
 * CLI and the tests; error replies become DkvError with the protocol's code.
 *
 * Pipelining: get/put/delete calls made in the same event-loop turn travel together as one
 * request on `dkv.<cluster>.batch` (each element is the body of the single request plus "op";
 * the reply holds each single reply, in order). A node then decodes one message for all of them
 * and answers once, and the bus carries one message each way instead of one per call: measured
 * in docs/performance.md. Gets and writes go in separate batches, so that reads are not held up by
 * the writes' disk commits. A lone call costs the same as before; `pipeline: false` sends every
 * call on its own subject.
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { DEADLINE_HEADER } from './subjects.ts';
import { DkvError, isErrorCode, isNoResponders } from './errors.ts';
import { BATCH_OPS_MAX } from './protocol.ts';
import { subjectsFor, type Subjects } from './subjects.ts';

export interface ClientOptions {
  readonly servers: string;
  readonly cluster?: string;
  /** Longer than the nodes' own request deadline, so their `timeout` reply arrives first. */
  readonly timeoutMs?: number;
  /**
   * Per-attempt wait, when shorter than `timeoutMs`: an attempt that gets no reply is sent again
   * (NATS picks another node of the queue group most of the time). A stalled node keeps its
   * share of the queue group until NATS drops it, so a client that must not wait on one retries.
   * A retried write may be applied twice, as a sibling of itself, as in any Dynamo store.
   */
  readonly attemptTimeoutMs?: number;
  readonly encoding?: 'base64';
  /** Calls of one turn share one batch request (the default); false: one request per call. */
  readonly pipeline?: boolean;
}

interface Queued {
  readonly read: boolean;
  /** The single request's JSON body plus "op", ready to be joined into the batch. */
  readonly json: string;
  readonly resolve: (reply: any) => void;
  readonly reject: (err: unknown) => void;
}

/** A batch stays well under NATS's max_payload (1 MiB by default): JSON characters, up to 3 UTF-8 bytes each. */
const BATCH_CHARS_MAX = 256 * 1024;

export interface GetResult {
  key: string;
  found: boolean;
  values: string[];
  context: string;
}

export class DkvClient {
  #queue: Queued[] = [];
  #scheduled = false;

  private constructor(
    readonly nc: NatsConnection,
    readonly subjects: Subjects,
    private readonly timeoutMs: number,
    private readonly ownsConnection: boolean,
    private readonly attemptTimeoutMs = timeoutMs,
    private readonly pipeline = true,
  ) {}

  static async connect(opts: ClientOptions): Promise<DkvClient> {
    const nc = await connect({ servers: opts.servers, name: 'dkv-client', noAsyncTraces: true });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new DkvClient(nc, subjectsFor(opts.cluster ?? 'local'), timeoutMs, true, Math.min(opts.attemptTimeoutMs ?? timeoutMs, timeoutMs), opts.pipeline ?? true);
  }

  static over(nc: NatsConnection, cluster = 'local', timeoutMs = 10_000, pipeline = true): DkvClient {
    return new DkvClient(nc, subjectsFor(cluster), timeoutMs, false, timeoutMs, pipeline);
  }

  /** Sends a body as is and returns the reply as is, errors included: for tests and `--json`. */
  async raw(subject: string, body: unknown | Uint8Array): Promise<any> {
    const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body));
    const deadlineMs = Date.now() + this.timeoutMs;
    for (;;) {
      const remaining = deadlineMs - Date.now();
      try {
        const timeout = Math.max(1, Math.min(this.attemptTimeoutMs, remaining));
        // The attempt's deadline travels with it, so a node that gets it late (it was stalled)
        // drops it instead of applying a write this client has already sent again elsewhere.
        const h = headers();
        h.set(DEADLINE_HEADER, String(Date.now() + timeout));
        const msg = await this.nc.request(subject, data, { timeout, headers: h });
        return JSON.parse(new TextDecoder().decode(msg.data));
      } catch (err) {
        if (isNoResponders(err)) throw new DkvError('unavailable', `no dkv node answers on ${subject}`, { cause: err });
        if (deadlineMs - Date.now() <= 0) throw new DkvError('timeout', `no reply on ${subject} within ${this.timeoutMs} ms`, { cause: err });
      }
    }
  }

  private async call(subject: string, body: unknown): Promise<any> {
    return replyOrThrow(await this.raw(subject, body));
  }

  /** A get/put/delete: into this turn's batch, or on its own subject. */
  private op(op: 'get' | 'put' | 'delete', subject: string, body: Record<string, unknown>): Promise<any> {
    if (!this.pipeline) return this.call(subject, body);
    const json = JSON.stringify({ op, ...body });
    // Too big to share a batch: alone, exactly as the single request.
    if (json.length > BATCH_CHARS_MAX) return this.call(subject, body);
    return new Promise((resolve, reject) => {
      this.#queue.push({ read: op === 'get', json, resolve, reject });
      if (this.#scheduled) return;
      this.#scheduled = true;
      // After this turn's other calls (and the microtasks they set off) have queued theirs.
      setImmediate(() => this.#flush());
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    // Reads and writes travel apart: a batch is answered once all of it is done, and a read
    // should not wait for the writes' disk commits.
    const reads = queue.filter((q) => q.read);
    if (reads.length === 0 || reads.length === queue.length) return this.#chunk(queue);
    this.#chunk(reads);
    this.#chunk(queue.filter((q) => !q.read));
  }

  #chunk(queue: Queued[]): void {
    let start = 0;
    let chars = 0;
    queue.forEach((q, i) => {
      if (i > start && (i - start >= BATCH_OPS_MAX || chars + q.json.length > BATCH_CHARS_MAX)) {
        void this.#send(queue.slice(start, i));
        start = i;
        chars = 0;
      }
      chars += q.json.length + 1;
    });
    if (start < queue.length) void this.#send(queue.slice(start));
  }

  async #send(batch: Queued[]): Promise<void> {
    let reply: any;
    try {
      reply = await this.raw(this.subjects.batch, encoder.encode(`{"ops":[${batch.map((q) => q.json).join(',')}]}`));
      if (reply?.error) replyOrThrow(reply);
      if (!Array.isArray(reply?.results) || reply.results.length !== batch.length) throw new DkvError('internal', `batch reply holds ${reply?.results?.length} results for ${batch.length} requests`);
    } catch (err) {
      for (const q of batch) q.reject(err);
      return;
    }
    batch.forEach((q, i) => {
      try {
        q.resolve(replyOrThrow(reply.results[i]));
      } catch (err) {
        q.reject(err);
      }
    });
  }

  get(key: string, opts: { r?: number; encoding?: 'base64' } = {}): Promise<GetResult> {
    return this.op('get', this.subjects.get, { key, ...opts });
  }

  put(key: string, value: string, opts: { context?: string; w?: number; encoding?: 'base64' } = {}): Promise<{ ok: true; context: string }> {
    return this.op('put', this.subjects.put, { key, value, ...opts });
  }

  delete(key: string, opts: { context?: string; w?: number } = {}): Promise<{ ok: true }> {
    return this.op('delete', this.subjects.delete, { key, ...opts });
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

  async close(): Promise<void> {
    if (this.ownsConnection) await this.nc.close();
  }
}

const encoder = new TextEncoder();

/** A protocol reply, or the DkvError its error stands for. */
function replyOrThrow(reply: any): any {
  if (reply && typeof reply === 'object' && reply.error) {
    const code = isErrorCode(reply.error.code) ? reply.error.code : 'internal';
    throw new DkvError(code, String(reply.error.message));
  }
  return reply;
}
