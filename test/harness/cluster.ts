/**
 * A local cluster for tests: its own nats-server on a free loopback port, N real node
 * processes with data in a fresh temp directory, and a client. Reused by every multi-process test.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkvClient } from '../../src/client/client.ts';
import { isSettled } from '../../src/clusterStatus.ts';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import { NodeProcess } from './nodeProcess.ts';
import { restartNatsServer } from './natsRestart.ts';
import { reapOnExit } from './reaper.ts';
import { waitFor } from './wait.ts';

export interface ClusterOptions {
  nodes?: number;
  storage?: 'lmdb' | 'memory';
  faults?: boolean;
  extraArgs?: string[];
  /** Arguments for one node only, after extraArgs (a metrics port of its own, say). */
  nodeArgs?: (id: string) => string[];
}

/** Every member up, as `client` sees the cluster, and no partition still being received. */
export async function waitSettled(client: DkvClient, timeoutMs = 30_000): Promise<void> {
  await waitFor('every member up with no partition being received', async () => isSettled(await client.status()), { timeoutMs, intervalMs: 50 });
}

export class TestCluster {
  private constructor(
    /** Replaced by `restartNats`; read it afresh after a restart. */
    public nats: NatsServerHandle,
    readonly dir: string,
    readonly nodes: NodeProcess[],
    readonly client: DkvClient,
  ) {}

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const count = opts.nodes ?? 3;
    const nats = await startNatsServer();
    reapOnExit(nats.process);
    const dir = mkdtempSync(join(tmpdir(), 'dkv-test-'));
    const members = Array.from({ length: count }, (_, i) => `n${i + 1}`);
    const nodes = members.map(
      (id) =>
        new NodeProcess({
          id,
          natsUrl: nats.url,
          members,
          dataDir: join(dir, id),
          storage: opts.storage ?? 'lmdb',
          faults: opts.faults ?? false,
          extraArgs: [...(opts.extraArgs ?? []), ...(opts.nodeArgs?.(id) ?? [])],
        }),
    );
    try {
      await Promise.all(nodes.map((n) => n.start()));
    } catch (err) {
      await Promise.all(nodes.map((n) => n.stop()));
      await nats.stop();
      throw err;
    }
    const client = await DkvClient.connect({ servers: nats.url, cluster: 'local' });
    const cluster = new TestCluster(nats, dir, nodes, client);
    await cluster.settled();
    return cluster;
  }

  /**
   * Every member up and no partition still being received: a brand-new cluster's stores are new,
   * and its nodes settle that nobody has data to pull (actors/transfer.ts) within a second or so.
   * Tests start from there, so that what they see does not depend on that moment.
   */
  async settled(timeoutMs = 30_000): Promise<void> {
    await waitSettled(this.client, timeoutMs);
  }

  /** One of the `requests` counters of `status`, summed over every member that reports it. */
  async requestsTotal(counter: 'gets' | 'writes' | 'forwardedWrites' | 'sameReads' | 'batches' | 'batchedOps' | 'fastReads' | 'fastReadHandovers'): Promise<number> {
    const members: Array<{ requests?: Record<string, number> }> = (await this.client.status()).members;
    return members.reduce((sum, m) => sum + (m.requests?.[counter] ?? 0), 0);
  }

  /** Stops the cluster's nats-server and starts it again on the same port. */
  async restartNats(): Promise<void> {
    this.nats = await restartNatsServer(this.nats);
  }

  /** Starts one more node on the cluster's bus, joining through `join` (or waiting to be joined). */
  async addNode(id: string, opts: { join?: string; extraArgs?: string[]; storage?: 'lmdb' | 'memory' } = {}): Promise<NodeProcess> {
    const node = new NodeProcess({
      id,
      natsUrl: this.nats.url,
      ...(opts.join !== undefined ? { join: opts.join } : {}),
      dataDir: join(this.dir, id),
      storage: opts.storage ?? 'lmdb',
      extraArgs: opts.extraArgs ?? [],
    });
    this.nodes.push(node);
    await node.start();
    return node;
  }

  node(id: string): NodeProcess {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  async stop(): Promise<void> {
    await this.client.close().catch(() => {});
    await Promise.all(this.nodes.map((n) => n.stop()));
    await this.nats.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
