/**
 * The peer: NATS JetStream KV, one replica, file storage, on a nats-server of its own, through
 * the official @nats-io/kv client. Updates are plain puts (last writer wins: JetStream KV has no
 * siblings to manage). Note on durability: dkv acknowledges a write after lmdb's fsync, while
 * nats-server 2.9 acknowledges after the write to its file store, without an fsync per write;
 * docs/performance.md says so next to the numbers.
 */
import { mkdirSync } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { StorageType } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import type { WatchedProcess } from '../cpu.ts';
import { JetStreamKvTarget } from './kvOperations.ts';
import { loadGeneratorConnection, natsServerDeath, type Target, type TargetSettings } from './target.ts';

const BUCKET = 'bench';

export interface JetStreamOptions extends TargetSettings {
  readonly dataDir: string;
}

export class JetStreamTarget extends JetStreamKvTarget implements Target {
  readonly name = 'jetstream';
  readonly description = 'NATS JetStream KV, 1 replica, file storage, @nats-io/kv client';
  readonly processes: WatchedProcess[];

  private constructor(
    private readonly opts: JetStreamOptions,
    private readonly nats: NatsServerHandle,
    private readonly nc: NatsConnection,
    kv: KV,
  ) {
    super(kv, opts.valueBytes);
    this.processes = [{ role: 'nats-server-js', pid: nats.process.pid!, holdsData: true }];
  }

  static async start(opts: JetStreamOptions): Promise<JetStreamTarget> {
    mkdirSync(opts.dataDir, { recursive: true });
    const nats = await startNatsServer({ args: ['-js', '-sd', opts.dataDir] });
    try {
      const nc = await connect(loadGeneratorConnection(nats.url, 'jetstream-bench'));
      const kv = await new Kvm(nc).create(BUCKET, { replicas: 1, storage: StorageType.File, history: 1 });
      return new JetStreamTarget(opts, nats, nc, kv);
    } catch (err) {
      await nats.stop();
      throw err;
    }
  }

  health(): string[] {
    return natsServerDeath('nats-server of JetStream', this.nats.process);
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    await this.nats.stop();
  }
}
