/**
 * The like-for-like peer: NATS JetStream KV with three replicas, file storage, on three
 * nats-servers forming one JetStream cluster (loopback, ports of their own), through the official
 * @nats-io/kv client. The load generator is given all three servers' URLs, as an application of a
 * three-server cluster would be, and the client picks one of them (nats.js shuffles the list):
 * the description names the server it landed on and the bucket's stream leader, because a client
 * of a follower pays one more hop per put.
 *
 * Puts go to the stream leader, which acknowledges once a majority (2 of 3) has the entry in its
 * file store, without an fsync per write (nats-server's file store syncs on a timer). Gets are the
 * KV client's default, direct gets (the bucket is created with allow_direct), answered by any
 * replica, so a get may see an older value than the latest acknowledged put.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { freePort, startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import type { WatchedProcess } from '../cpu.ts';
import { JetStreamKvTarget } from './kvOperations.ts';
import { loadGeneratorConnection, natsServerDeath, type Target, type TargetSettings } from './target.ts';

const BUCKET = 'bench';
const STREAM = `KV_${BUCKET}`;
const CLUSTER_NAME = 'bench-js';
const SERVERS = 3;
/** JetStream's meta leader election and the stream's own take a few seconds on a quiet machine. */
const READY_TIMEOUT_MS = 60_000;

export interface JetStreamClusterOptions extends TargetSettings {
  readonly dataDir: string;
  /** How long to wait for the cluster to elect its leaders and take a first put. */
  readonly readyTimeoutMs?: number;
}

export class JetStreamClusterTarget extends JetStreamKvTarget implements Target {
  readonly name = 'jetstream-r3';
  readonly description: string;
  readonly processes: WatchedProcess[];

  private constructor(
    private readonly opts: JetStreamClusterOptions,
    private readonly servers: readonly NatsServerHandle[],
    private readonly nc: NatsConnection,
    kv: KV,
    where: { connectedTo: string; leader: string },
  ) {
    super(kv, opts.valueBytes);
    // All three hold the data; their CPU is summed under one role.
    this.processes = servers.map((s) => ({ role: 'nats-server-js-r3', pid: s.process.pid!, holdsData: true }));
    this.description = `NATS JetStream KV, 3 replicas, file storage, 3 nats-servers in one JetStream cluster, @nats-io/kv client given all 3 URLs (connected to ${where.connectedTo}, stream leader ${where.leader})`;
  }

  static async start(opts: JetStreamClusterOptions): Promise<JetStreamClusterTarget> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await JetStreamClusterTarget.startOnce(opts, attempt);
      } catch (err) {
        // A cluster port taken between choosing it and the bind: choose them all again.
        if (attempt >= 5 || !/address already in use/.test((err as Error).message)) throw err;
      }
    }
  }

  private static async startOnce(opts: JetStreamClusterOptions, attempt: number): Promise<JetStreamClusterTarget> {
    const clusterPorts: number[] = [];
    while (clusterPorts.length < SERVERS) {
      const p = await freePort();
      if (!clusterPorts.includes(p)) clusterPorts.push(p);
    }
    const started = await Promise.allSettled(
      clusterPorts.map((port, i) => {
        const dir = join(opts.dataDir, `attempt${attempt}`, `s${i + 1}`);
        mkdirSync(dir, { recursive: true });
        const routes = clusterPorts.filter((p) => p !== port).map((p) => `nats://127.0.0.1:${p}`).join(',');
        return startNatsServer({
          args: ['-js', '-sd', dir, '--server_name', `js${i + 1}`, '--cluster_name', CLUSTER_NAME, '--cluster', `nats://127.0.0.1:${port}`, '--routes', routes],
        });
      }),
    );
    const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      await Promise.all(servers.map((s) => s.stop()));
      throw failed.reason;
    }
    let nc: NatsConnection | undefined;
    try {
      nc = await connect({ ...loadGeneratorConnection('', 'jetstream-r3-bench'), servers: servers.map((s) => s.url) });
      const kv = await untilReady(nc, opts.readyTimeoutMs ?? READY_TIMEOUT_MS);
      const info = await (await jetstreamManager(nc)).streams.info(STREAM);
      const where = { connectedTo: nc.info?.server_name ?? '?', leader: info.cluster?.leader ?? '?' };
      return new JetStreamClusterTarget(opts, servers, nc, kv, where);
    } catch (err) {
      await nc?.close().catch(() => {});
      await Promise.all(servers.map((s) => s.stop()));
      throw err;
    }
  }

  /** The three servers' client URLs, js1 to js3. */
  get urls(): string[] {
    return this.servers.map((s) => s.url);
  }

  health(): string[] {
    return this.servers.flatMap((s, i) => natsServerDeath(`nats-server js${i + 1} of the JetStream cluster`, s.process));
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    await Promise.all(this.servers.map((s) => s.stop()));
  }
}

/**
 * Until the cluster has a meta leader (creating the bucket fails before), the bucket's stream has
 * a leader and a put goes through: the probe key is outside the benchmark's key space and deleted
 * again (a delete marker, history 1).
 */
async function untilReady(nc: NatsConnection, timeoutMs: number): Promise<KV> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const kv = await new Kvm(nc).create(BUCKET, { replicas: 3, storage: StorageType.File, history: 1, timeout: 5_000 });
      await kv.put('_ready', 'x');
      await kv.delete('_ready');
      return kv;
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`the JetStream cluster took no put within ${timeoutMs} ms: ${(last as Error)?.message ?? last}`);
}
