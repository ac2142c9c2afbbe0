/**
 * A real `dkv node` process for tests: spawned through the CLI, its pino lines collected, its
 * readiness and exit observable, killable with any signal and restartable on the same data.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { isNoResponders } from '../../src/errors.ts';
import { subjectsFor } from '../../src/subjects.ts';
import { reapOnExit } from './reaper.ts';
import { waitFor } from './wait.ts';

export const BIN = fileURLToPath(new URL('../../actors/bin.mjs', import.meta.url));

export interface NodeSpec {
  id: string;
  natsUrl: string;
  /** A new cluster's static member list; without it the node joins through `join`, or waits. */
  members?: readonly string[];
  join?: string;
  dataDir: string;
  cluster?: string;
  storage?: 'lmdb' | 'memory';
  faults?: boolean;
  extraArgs?: string[];
}

export class NodeProcess {
  child!: ChildProcess;
  /** Every parsed pino line from every incarnation of this node. */
  readonly logs: any[] = [];
  readonly stderr: string[] = [];
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> = Promise.resolve({ code: null, signal: null });

  constructor(readonly spec: NodeSpec) {}

  get id(): string {
    return this.spec.id;
  }

  async start(): Promise<this> {
    const s = this.spec;
    const args = [BIN, 'node', '--id', s.id, '--nats', s.natsUrl, '--cluster', s.cluster ?? 'local', '--data', s.dataDir, ...(s.members ? ['--members', s.members.join(',')] : []), ...(s.join ? ['--join', s.join] : []), '--storage', s.storage ?? 'lmdb', ...(s.extraArgs ?? [])];
    const env = { ...process.env, DKV_FAULTS: s.faults ? '1' : '', DKV_EXIT_WITH_STDIN: '1' };
    // stdin is a pipe only so that the node notices when this test process is gone.
    this.child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    reapOnExit(this.child);
    const startedAt = this.logs.length;
    let buffer = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          this.stderr.push(line);
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => this.stderr.push(d.toString()));
    const child = this.child;
    // 'exit' can come before the last lines are read from stdout: wait for both, so that a test
    // reading the logs of a node that has exited (its last words included) sees every line.
    const stdoutClosed = new Promise<void>((resolve) => child.stdout!.once('close', () => resolve()));
    this.exit = new Promise((resolve) => child.once('exit', (code, signal) => void stdoutClosed.then(() => resolve({ code, signal }))));
    const ready = waitFor(`node ${s.id} to serve`, () => this.logs.slice(startedAt).some((l) => l.event === 'node-started'), { timeoutMs: 30_000 });
    // A node that exits while starting fails the start at once, with its last words.
    const died = this.exit.then(({ code, signal }) => {
      throw new Error(`node ${s.id} exited during start (${signal ?? code}): ${this.stderr.join('').slice(-2000)}`);
    });
    await Promise.race([ready, died]);
    died.catch(() => {});
    return this;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') {
      await this.exit;
      await this.waitUnsubscribed();
    }
  }

  /**
   * Until nats-server has noticed the dead connection, it still counts the node in the queue
   * group and may hand it a client request that then goes unanswered. The node's own subject
   * answering "no responders" means its subscriptions are gone.
   */
  async waitUnsubscribed(): Promise<void> {
    const nc = await connect({ servers: this.spec.natsUrl, noAsyncTraces: true });
    try {
      const subject = subjectsFor(this.spec.cluster ?? 'local').peek(this.id);
      await waitFor(`nats-server to drop ${this.id}'s subscriptions`, async () => {
        try {
          await nc.request(subject, new TextEncoder().encode('{}'), { timeout: 500 });
          return false;
        } catch (err) {
          return isNoResponders(err);
        }
      }, { timeoutMs: 15_000 });
    } finally {
      await nc.close();
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    if (this.child.signalCode === null) this.child.kill('SIGCONT');
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exit;
    clearTimeout(t);
  }

  supervisionLines(): any[] {
    return this.logs.filter((l) => l.event === 'supervision');
  }
}
