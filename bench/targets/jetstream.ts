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
import { KvOperations } from './kvOperations.ts';
import { loadGeneratorConnection, natsServerDeath, type OpOutcome, type Target, type TargetSettings } from './target.ts';

const BUCKET = 'bench';

export interface JetStreamOptions extends TargetSettings {
  readonly dataDir: string;
}

export class JetStreamTarget implements Target {
  readonly name = 'jetstream';
  readonly description = 'NATS JetStream KV, 1 replica, file storage, @nats-io/kv client';
  readonly processes: WatchedProcess[];

  private constructor(
    private readonly opts: JetStreamOptions,
    private readonly nats: NatsServerHandle,
    private readonly nc: NatsConnection,
    private readonly kv: KV,
  ) {
    this.#ops = new KvOperations(kv, opts.valueBytes);
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

  readonly #ops: KvOperations;

  markPreloaded(count: number): void {
    this.#ops.markPreloaded(count);
  }

  read(keyIndex: number): Promise<OpOutcome> {
    return this.#ops.read(keyIndex);
  }

  update(keyIndex: number, version: number): Promise<OpOutcome> {
    return this.#ops.update(keyIndex, version);
  }

  health(): string[] {
    return natsServerDeath('nats-server of JetStream', this.nats.process);
  }

  takeCounters(): Record<string, number> {
    return {};
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    await this.nats.stop();
  }
}
