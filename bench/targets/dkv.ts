/**
 * dkv, reached two ways (two targets, each with a cluster of its own):
 * - `dkv`: its public protocol (DESIGN.md §3), JSON bodies over NATS request/reply on
 *   `dkv.<cluster>.get` / `.put`, exactly what any client sends, one request per operation;
 * - `dkv-client`: the TypeScript client library (src/client/client.ts), which pipelines: the operations
 *   started in one event-loop turn travel as one request on `dkv.<cluster>.batch`.
 *
 * The cluster is `nodes` real `dkv node` processes with lmdb storage on a nats-server of their
 * own. Updates carry the context of the last reply seen for that key, as a read-modify-write
 * client would, so that siblings only come from truly concurrent updates of one key.
 */
import { mkdirSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import { natsAuthArgs, natsConnectionOptions } from '../../src/nats/connectOptions.ts';
import { subjectsFor } from '../../src/subjects.ts';
import { DkvClient, OVERLOADED_BACKOFF_MS_MAX, OVERLOADED_BACKOFF_MS_MIN } from '../../src/client/client.ts';
import { DkvError } from '../../src/errors.ts';
import { isSettled } from '../../src/clusterStatus.ts';
import { pollUntil } from '../../src/pollUntil.ts';
import type { WatchedProcess } from '../cpu.ts';
import { Child, cleanEnv } from '../processes.ts';
import { isValueOf, keyName, valueFor } from '../workload.ts';
import { clientErrorCode, loadGeneratorConnection, natsServerDeath, type OpOutcome, type Target, type TargetSettings } from './target.ts';
import type { SyncMode } from '../../src/storage/lmdb.ts';

export const DKV_BIN = fileURLToPath(new URL('../../actors/bin.mjs', import.meta.url));
/** Longer than the nodes' own 5 s deadline, so their `timeout` reply arrives first. */
const REQUEST_TIMEOUT_MS = 10_000;
const CLUSTER = 'local';

export interface DkvOptions extends TargetSettings {
  readonly via: 'protocol' | 'client';
  readonly nodes: number;
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly storage: 'lmdb' | 'memory';
  readonly sync: SyncMode;
  readonly dataDir: string;
  /** The nodes' `dkv` bin: this checkout's by default, another version's for a baseline. */
  readonly bin?: string;
  /** The target's name; `dkv` or `dkv-client` (from `via`) by default. */
  readonly name?: string;
  /** When set, node n1 runs with --cpu-prof and writes its profiles under <dir>/n1/ on exit. */
  readonly cpuProfDir?: string;
  /** More environment for the nodes (the replication floor's FLOOR_FEATURES). */
  readonly env?: Readonly<Record<string, string>>;
  /** Replaces the generated description (a program that is not dkv). */
  readonly description?: string;
  /** How long the load generator waits for one reply (default 10 s). */
  readonly requestTimeoutMs?: number;
  /** More arguments for every node (the overload benchmark's bound, say). */
  readonly nodeArgs?: readonly string[];
  /** Wait for the new cluster to settle before measuring (default true; the floor has no status). */
  readonly settle?: boolean;
  /** The nats-server requires this of every connection; the nodes and the generator present it. */
  readonly natsAuth?: BenchNatsAuth;
}

/**
 * A new cluster's nodes first settle that nobody has data to pull (actors/transfer.ts): measured
 * runs start once every member is up and no partition is being received.
 */
async function settled(nc: NatsConnection, cluster: string, timeoutMs = 60_000): Promise<void> {
  const settledNow = async (): Promise<boolean> => {
    try {
      return isSettled(JSON.parse(new TextDecoder().decode((await nc.request(subjectsFor(cluster).status, new TextEncoder().encode('{}'), { timeout: 2_000 })).data)));
    } catch {
      return false; // not serving yet: asked again
    }
  };
  if (!(await pollUntil(settledNow, { deadlineMs: Date.now() + timeoutMs, intervalMs: 100, now: Date.now, sleep }))) throw new Error(`the dkv cluster did not settle within ${timeoutMs} ms`);
}

/** A secured bus for the benchmark: a user and password, or a token (TLS is not set up here). */
export type BenchNatsAuth = { readonly user: string; readonly pass: string } | { readonly token: string };

function natsServerAuthArgs(auth: BenchNatsAuth | undefined): string[] {
  if (auth === undefined) return [];
  return 'token' in auth ? ['--auth', auth.token] : ['--user', auth.user, '--pass', auth.pass];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class DkvTarget implements Target {
  readonly name: string;
  /** The client library, for `via: 'client'`. */
  private readonly client?: DkvClient;
  readonly description: string;
  readonly processes: WatchedProcess[];
  /** Key index → the context of the last reply for that key. */
  private readonly contexts = new Map<number, string>();
  private counters = { readsWithSiblings: 0, siblingsMax: 0, nodeWarnings: 0, peerDown: 0, overloadedRetries: 0 };
  private readonly getSubject: string;
  private readonly putSubject: string;

  private constructor(
    private readonly opts: DkvOptions,
    private readonly nats: NatsServerHandle,
    private readonly nodes: Child[],
    /** The load generator's connection (the overload benchmark sends on it directly). */
    readonly nc: NatsConnection,
    /** Warn-or-worse log lines of the nodes, counted by their stdout readers. */
    private readonly warnings: { count: number; peerDown: number },
  ) {
    const subjects = subjectsFor(CLUSTER);
    this.getSubject = subjects.get;
    this.putSubject = subjects.put;
    this.name = opts.name ?? (opts.via === 'client' ? 'dkv-client' : 'dkv');
    // Ring-aware: each batch goes to a node that holds its keys (with N or fewer nodes, any node).
    if (opts.via === 'client') this.client = DkvClient.over(nc, CLUSTER, REQUEST_TIMEOUT_MS, true, true);
    this.description = opts.description ?? `dkv ${opts.nodes} nodes, N=${opts.n} R=${opts.r} W=${opts.w}, ${opts.storage} storage${opts.storage === 'lmdb' ? ` (sync ${opts.sync})` : ''}, ${opts.via === 'client' ? 'client library (pipelined batches, ring-aware)' : 'JSON request/reply'}${opts.bin && opts.bin !== DKV_BIN ? `, nodes from ${opts.bin}` : ''}`;
    this.processes = [
      { role: 'nats-server', pid: nats.process.pid!, holdsData: false },
      ...nodes.map((c) => ({ role: 'dkv-nodes', pid: c.pid, holdsData: true })),
    ];
  }

  static async start(opts: DkvOptions): Promise<DkvTarget> {
    const nats = await startNatsServer({ args: natsServerAuthArgs(opts.natsAuth) });
    const members = Array.from({ length: opts.nodes }, (_, i) => `n${i + 1}`);
    const nodes: Child[] = [];
    const warnings = { count: 0, peerDown: 0 };
    try {
      const started = await Promise.allSettled(
        members.map((id) => {
          const dataDir = join(opts.dataDir, id);
          mkdirSync(dataDir, { recursive: true });
          // --cpu-prof is refused in NODE_OPTIONS, so it goes on the node command line. Only
          // the first node is profiled: the nodes are symmetric and the profiler slows its
          // process down. Each thread (tsx runs a loader-hooks thread too) writes its own file
          // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread.
          const profArgs = opts.cpuProfDir && id === members[0] ? ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir, id)}`] : [];
          return Child.start({
            name: `dkv node ${id}`,
            command: process.execPath,
            args: [...profArgs, opts.bin ?? DKV_BIN, 'node', '--id', id, '--nats', nats.url, '--cluster', CLUSTER, '--data', dataDir, '--members', members.join(','), '--storage', opts.storage, '--n', String(opts.n), '--r', String(opts.r), '--w', String(opts.w), ...(opts.nodeArgs ?? []), ...natsAuthArgs(opts.natsAuth ?? {})],
            // An environment variable, not a flag: a baseline from before `--sync` ignores it.
            env: cleanEnv({ DKV_SYNC: opts.sync, ...opts.env }),
            ready: (line) => line.includes('"node-started"'),
            // pino levels: 40 warn, 50 error, 60 fatal.
            onLine: (line) => {
              if (/"level":(4|5|6)\d/.test(line)) warnings.count++;
              if (line.includes('"event":"peer-status"') && line.includes('"to":"down"')) warnings.peerDown++;
            },
          });
        }),
      );
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value);
      const failure = started.find((s) => s.status === 'rejected');
      if (failure) throw (failure as PromiseRejectedResult).reason;
      const nc = await connect({ ...loadGeneratorConnection(nats.url, 'dkv-bench'), ...(opts.natsAuth ? natsConnectionOptions(nats.url, opts.natsAuth) : {}) });
      if (opts.settle !== false) await settled(nc, CLUSTER);
      return new DkvTarget(opts, nats, nodes, nc, warnings);
    } catch (err) {
      await Promise.all(nodes.map((c) => c.stop()));
      await nats.stop();
      throw err;
    }
  }

  private preloadedKeys = 0;

  markPreloaded(count: number): void {
    this.preloadedKeys = count;
  }

  async read(keyIndex: number): Promise<OpOutcome> {
    const key = keyName(keyIndex);
    const reply = await this.request(this.getSubject, { key });
    if (typeof reply === 'string') return reply;
    if (reply?.error) return String(reply.error.code ?? 'bad_reply');
    if (typeof reply?.context !== 'string' || !Array.isArray(reply.values)) return 'bad_reply';
    this.contexts.set(keyIndex, reply.context);
    const values: unknown[] = reply.values;
    if (values.length === 0) return keyIndex < this.preloadedKeys ? 'not_found' : undefined;
    if (values.length > 1) {
      this.counters.readsWithSiblings++;
      this.counters.siblingsMax = Math.max(this.counters.siblingsMax, values.length);
    }
    for (const v of values) if (typeof v !== 'string' || !isValueOf(key, v, this.opts.valueBytes)) return 'wrong_value';
    return undefined;
  }

  async update(keyIndex: number, version: number): Promise<OpOutcome> {
    const key = keyName(keyIndex);
    const context = this.contexts.get(keyIndex);
    const body = context === undefined ? { key, value: valueFor(key, version, this.opts.valueBytes) } : { key, value: valueFor(key, version, this.opts.valueBytes), context };
    const reply = await this.request(this.putSubject, body);
    if (typeof reply === 'string') return reply;
    if (reply?.error) return String(reply.error.code ?? 'bad_reply');
    if (reply?.ok !== true || typeof reply.context !== 'string') return 'bad_reply';
    this.contexts.set(keyIndex, reply.context);
    return undefined;
  }

  /**
   * The reply (an error reply included), or the harness's code for a request that failed. An
   * `overloaded` reply is sent again after a jittered pause that doubles from 20 ms to 1 s within
   * the deadline, as DESIGN.md §3 asks of a client and as the library does; the retries are counted.
   */
  private async request(subject: string, body: { key: string; value?: string; context?: string }): Promise<any> {
    try {
      if (this.client) return await (body.value === undefined ? this.client.get(body.key) : this.client.put(body.key, body.value, body.context === undefined ? {} : { context: body.context }));
      const timeoutMs = this.opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
      const deadline = Date.now() + timeoutMs;
      const data = encoder.encode(JSON.stringify(body));
      for (let pauseMs = OVERLOADED_BACKOFF_MS_MIN; ; pauseMs = Math.min(OVERLOADED_BACKOFF_MS_MAX, pauseMs * 2)) {
        const msg = await this.nc.request(subject, data, { timeout: Math.max(1, deadline - Date.now()) });
        const reply = JSON.parse(decoder.decode(msg.data));
        const wait = pauseMs / 2 + Math.random() * (pauseMs / 2);
        if (reply?.error?.code !== 'overloaded' || Date.now() + wait >= deadline) return reply;
        this.counters.overloadedRetries++;
        await new Promise((r) => setTimeout(r, wait));
      }
    } catch (err) {
      if (err instanceof DkvError) return err.code === 'timeout' && /no reply/.test(err.message) ? 'client_timeout' : err.code;
      return err instanceof SyntaxError ? 'bad_reply' : clientErrorCode(err);
    }
  }

  health(): string[] {
    return [...natsServerDeath('nats-server of dkv', this.nats.process), ...this.nodes.map((c) => c.death()).filter((d): d is string => d !== undefined)];
  }

  /** The client library's own `overloaded` retries (it backs off inside), counted up to the last take. */
  private clientRetriesTaken = 0;

  takeCounters(): Record<string, number> {
    const c = { ...this.counters, nodeWarnings: this.warnings.count, peerDown: this.warnings.peerDown };
    if (this.client) {
      c.overloadedRetries += this.client.overloadedRetries - this.clientRetriesTaken;
      this.clientRetriesTaken = this.client.overloadedRetries;
    }
    this.counters = { readsWithSiblings: 0, siblingsMax: 0, nodeWarnings: 0, peerDown: 0, overloadedRetries: 0 };
    this.warnings.count = 0;
    this.warnings.peerDown = 0;
    return c;
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    // SIGTERM lets each node close lmdb and, when profiling, write its .cpuprofile.
    await Promise.all(this.nodes.map((c) => c.stop()));
    await this.nats.stop();
  }
}
