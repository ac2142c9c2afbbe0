/**
 * The TypeScript client library: the public protocol (DESIGN.md §3) as functions. Used by the
 * CLI and the tests; error replies become DkvError with the protocol's code.
 */
import { connect, headers, type NatsConnection } from '@nats-io/transport-node';
import { DEADLINE_HEADER } from './subjects.ts';
import { DkvError, isErrorCode, isNoResponders } from './errors.ts';
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
}

export interface GetResult {
  key: string;
  found: boolean;
  values: string[];
  context: string;
}

export class DkvClient {
  private constructor(
    readonly nc: NatsConnection,
    readonly subjects: Subjects,
    private readonly timeoutMs: number,
    private readonly ownsConnection: boolean,
    private readonly attemptTimeoutMs = timeoutMs,
  ) {}

  static async connect(opts: ClientOptions): Promise<DkvClient> {
    const nc = await connect({ servers: opts.servers, name: 'dkv-client', noAsyncTraces: true });
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new DkvClient(nc, subjectsFor(opts.cluster ?? 'local'), timeoutMs, true, Math.min(opts.attemptTimeoutMs ?? timeoutMs, timeoutMs));
  }

  static over(nc: NatsConnection, cluster = 'local', timeoutMs = 10_000): DkvClient {
    return new DkvClient(nc, subjectsFor(cluster), timeoutMs, false);
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
    const reply = await this.raw(subject, body);
    if (reply && typeof reply === 'object' && reply.error) {
      const code = isErrorCode(reply.error.code) ? reply.error.code : 'internal';
      throw new DkvError(code, String(reply.error.message));
    }
    return reply;
  }

  get(key: string, opts: { r?: number; encoding?: 'base64' } = {}): Promise<GetResult> {
    return this.call(this.subjects.get, { key, ...opts });
  }

  put(key: string, value: string, opts: { context?: string; w?: number; encoding?: 'base64' } = {}): Promise<{ ok: true; context: string }> {
    return this.call(this.subjects.put, { key, value, ...opts });
  }

  delete(key: string, opts: { context?: string; w?: number } = {}): Promise<{ ok: true }> {
    return this.call(this.subjects.delete, { key, ...opts });
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
