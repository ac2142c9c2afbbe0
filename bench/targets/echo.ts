/**
 * The floor: a bare NATS request/reply echo service on a nats-server of its own. The load
 * generator sends the very bodies it sends dkv (`{"key"}` for reads, `{"key","value"}` for
 * updates) and checks that the same bytes come back: what one round trip on this bus costs
 * when the responder does no work.
 */
import { fileURLToPath } from 'node:url';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.ts';
import type { WatchedProcess } from '../cpu.ts';
import { Child, cleanEnv } from '../processes.ts';
import { keyName, valueFor } from '../workload.ts';
import { clientErrorCode, loadGeneratorConnection, natsServerDeath, type OpOutcome, type Target, type TargetSettings } from './target.ts';

const ECHO_SERVER = fileURLToPath(new URL('../echoServer.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SUBJECT = 'bench.echo';
const REQUEST_TIMEOUT_MS = 10_000;
const encoder = new TextEncoder();

export class EchoTarget implements Target {
  readonly name = 'echo';
  readonly description = 'bare NATS request/reply echo responder (separate process)';
  readonly processes: WatchedProcess[];

  private constructor(
    private readonly opts: TargetSettings,
    private readonly nats: NatsServerHandle,
    private readonly responder: Child,
    private readonly nc: NatsConnection,
  ) {
    this.processes = [
      { role: 'nats-server', pid: nats.process.pid!, holdsData: false },
      { role: 'echo-responder', pid: responder.pid, holdsData: true },
    ];
  }

  static async start(opts: TargetSettings): Promise<EchoTarget> {
    const nats = await startNatsServer();
    let responder: Child | undefined;
    try {
      responder = await Child.start({
        name: 'echo responder',
        command: process.execPath,
        args: ['--import', 'tsx', ECHO_SERVER, nats.url, SUBJECT],
        cwd: ROOT,
        env: cleanEnv(),
        ready: (line) => line.trim() === 'echo-ready',
      });
      const nc = await connect(loadGeneratorConnection(nats.url, 'echo-bench'));
      return new EchoTarget(opts, nats, responder, nc);
    } catch (err) {
      await responder?.stop();
      await nats.stop();
      throw err;
    }
  }

  private preloadedKeys = 0;

  markPreloaded(count: number): void {
    this.preloadedKeys = count;
  }

  private async roundTrip(body: string): Promise<OpOutcome> {
    const sent = encoder.encode(body);
    try {
      const msg = await this.nc.request(SUBJECT, sent, { timeout: REQUEST_TIMEOUT_MS });
      return msg.data.length === sent.length ? undefined : 'wrong_value';
    } catch (err) {
      return clientErrorCode(err);
    }
  }

  read(keyIndex: number): Promise<OpOutcome> {
    return this.roundTrip(JSON.stringify({ key: keyName(keyIndex) }));
  }

  update(keyIndex: number, version: number): Promise<OpOutcome> {
    const key = keyName(keyIndex);
    return this.roundTrip(JSON.stringify({ key, value: valueFor(key, version, this.opts.valueBytes) }));
  }

  health(): string[] {
    const d = this.responder.death();
    return [...natsServerDeath('nats-server of echo', this.nats.process), ...(d ? [d] : [])];
  }

  takeCounters(): Record<string, number> {
    return {};
  }

  async stop(): Promise<void> {
    await this.nc.close().catch(() => {});
    await this.responder.stop();
    await this.nats.stop();
  }
}
