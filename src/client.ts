/**
 * The TypeScript client library: the public protocol (DESIGN.md §3) as functions. Used by the
 * CLI and the tests; error replies become DkvError with the protocol's code.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { DkvError, isErrorCode } from './errors.ts';
import { subjectsFor, type Subjects } from './subjects.ts';

export interface ClientOptions {
  readonly servers: string;
  readonly cluster?: string;
  /** Longer than the nodes' own request deadline, so their `timeout` reply arrives first. */
  readonly timeoutMs?: number;
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
  ) {}

  static async connect(opts: ClientOptions): Promise<DkvClient> {
    const nc = await connect({ servers: opts.servers, name: 'dkv-client', noAsyncTraces: true });
    return new DkvClient(nc, subjectsFor(opts.cluster ?? 'local'), opts.timeoutMs ?? 10_000, true);
  }

  static over(nc: NatsConnection, cluster = 'local', timeoutMs = 10_000): DkvClient {
    return new DkvClient(nc, subjectsFor(cluster), timeoutMs, false);
  }

  /** Sends a body as is and returns the reply as is, errors included: for tests and `--json`. */
  async raw(subject: string, body: unknown | Uint8Array): Promise<any> {
    const data = body instanceof Uint8Array ? body : new TextEncoder().encode(JSON.stringify(body));
    let msg;
    try {
      msg = await this.nc.request(subject, data, { timeout: this.timeoutMs });
    } catch (err) {
      const text = (err as Error).message;
      if (/no responders/i.test(text) || /no responders/i.test(String((err as any)?.cause?.message ?? ''))) {
        throw new DkvError('unavailable', `no dkv node answers on ${subject}`, { cause: err });
      }
      throw new DkvError('timeout', `no reply on ${subject} within ${this.timeoutMs} ms`, { cause: err });
    }
    return JSON.parse(new TextDecoder().decode(msg.data));
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
