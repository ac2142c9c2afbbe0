/**
 * Real dkv nodes in one process on the simulation's bus and clock (test/sim/scheduler.ts): each
 * node is the same composition a `dkv node` process runs (actors/node.ts composeNode: gateway,
 * coordinators, vnodes, handoff, anti-entropy, membership, transfer, heartbeat), given simulated
 * connections, virtual time, a seeded random source and memory stores that outlive a simulated
 * crash as lmdb would. The state files (view, partition table, stand-in epoch) are real files in
 * a temporary directory, written with synchronous calls, so they replay too.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Clock, ClockTimer } from '../../actors/clock.ts';
import { IDENTITY_FILE, StandInEpochs } from '../../actors/identity.ts';
import { composeNode, type NodeEnvironment } from '../../actors/node.ts';
import type { NodeHandle, NodeOptions } from '../../actors/nodeOptions.ts';
import type { NodeStores } from '../../actors/store.ts';
import type { Transport, TransportMsg, TransportSubscription } from '../../actors/transport.ts';
import type { ClusterSettings } from '../../src/config.ts';
import type { StoredClock } from '../../src/replica.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import type { SimConnection } from './bus.ts';
import type { VirtualClock } from './clock.ts';
import type { Random } from './random.ts';
import type { Simulation } from './scheduler.ts';

/** A node's timers, so that a crash can take them all with it. */
class NodeClock implements Clock {
  readonly #timers = new Set<ClockTimer>();
  constructor(private readonly clock: VirtualClock) {}
  now(): number {
    return this.clock.now();
  }
  monotonicMs(): number {
    return this.clock.monotonicMs();
  }
  setTimeout(fn: () => void, delayMs: number): ClockTimer {
    const timer = this.clock.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, delayMs);
    this.#timers.add(timer);
    return timer;
  }
  setInterval(fn: () => void, intervalMs: number): ClockTimer {
    const timer = this.clock.setInterval(fn, intervalMs);
    this.#timers.add(timer);
    return timer;
  }
  clearTimeout(timer: ClockTimer | undefined): void {
    this.clock.clearTimeout(timer);
    if (timer) this.#timers.delete(timer);
  }
  clearInterval(timer: ClockTimer | undefined): void {
    this.clock.clearInterval(timer);
    if (timer) this.#timers.delete(timer);
  }
  cancelAll(): void {
    for (const t of this.#timers) this.clock.clearInterval(t);
    this.#timers.clear();
  }
}

/**
 * A connection that a crash cuts: afterwards nothing it sends leaves and nothing reaches it,
 * and the dying node's last calls fail quietly instead of throwing into the host's loop.
 */
class Cuttable implements Transport {
  #cut = false;
  constructor(private readonly conn: SimConnection) {}
  get info() {
    return this.conn.info;
  }
  cut(): void {
    this.#cut = true;
    this.conn.close();
  }
  request(subject: string, data?: Uint8Array, opts?: { timeout: number }): Promise<TransportMsg> {
    if (this.#cut) return Promise.reject(new Error('connection closed'));
    return this.conn.request(subject, data, opts);
  }
  publish(subject: string, data?: Uint8Array, opts?: { reply?: string }): void {
    if (!this.#cut) this.conn.publish(subject, data, opts);
  }
  subscribe(subject: string, opts?: { queue?: string; callback?: (err: Error | null, msg: TransportMsg) => void }): TransportSubscription {
    if (this.#cut) return { unsubscribe: () => {} };
    return this.conn.subscribe(subject, opts);
  }
  flush(): Promise<void> {
    return this.#cut ? Promise.resolve() : this.conn.flush();
  }
}

/** What survives a node's crash: its stores and its data directory. */
interface Disk {
  readonly dir: string;
  readonly storage: MemoryStorage<StoredClock>;
  readonly hints: MemoryStorage<StoredClock>;
  readonly actorId: string;
  started: boolean;
}

export interface SimNode {
  readonly id: string;
  readonly disk: Disk;
  handle: NodeHandle | undefined;
  up: boolean;
  /** Log lines at warn and above, and every supervision decision. */
  readonly lines: Array<Record<string, unknown>>;
  crash?: () => Promise<void>;
}

export interface SimClusterOptions {
  readonly sim: Simulation;
  readonly dir: string;
  readonly ids: readonly string[];
  readonly settings: ClusterSettings;
  /** Node options the simulation sets (intervals, bounds). */
  readonly nodeOptions?: Partial<NodeOptions>;
}

export class SimCluster {
  readonly nodes = new Map<string, SimNode>();
  readonly #random: Random;

  constructor(private readonly o: SimClusterOptions) {
    this.#random = o.sim.random.fork('nodes');
    for (const id of o.ids) {
      const dir = join(o.dir, id);
      mkdirSync(dir, { recursive: true });
      const disk: Disk = { dir, storage: new MemoryStorage(), hints: new MemoryStorage(), actorId: `${id}.${this.#hex(3)}`, started: false };
      this.nodes.set(id, { id, disk, handle: undefined, up: false, lines: [] });
    }
  }

  #hex(bytes: number): string {
    let s = '';
    for (let i = 0; i < bytes; i++) s += this.#random.int(256).toString(16).padStart(2, '0');
    return s;
  }

  /** Starts (or restarts, on its disk) node `id`; resolves once it serves. */
  async start(id: string): Promise<void> {
    const node = this.nodes.get(id)!;
    const { sim, settings } = this.o;
    const clock = new NodeClock(sim.clock);
    const nc = new Cuttable(sim.bus.connect(id));
    const liveness = new Cuttable(sim.bus.connect(`${id}-liveness`));
    const random = this.#random.fork(`${id}-${sim.clock.now()}`);
    const sink = new Writable({
      write: (chunk, _enc, done) => {
        const line = JSON.parse(String(chunk)) as Record<string, unknown>;
        if ((line.level as number) >= 40 || line.decision !== undefined) node.lines.push(line);
        done();
      },
    });
    const env: NodeEnvironment = {
      nc,
      liveness,
      clock,
      random: () => random.next(),
      eventLoop: { p90Ms: () => 0, reset: () => {}, stop: () => {} },
      natsStats: () => ({}),
      natsFigures: { disconnects: 0, reconnects: 0, lastDisconnectAt: undefined, lastReconnectAt: undefined },
      openStores: () => this.#stores(node.disk),
      close: async () => {
        nc.cut();
        liveness.cut();
      },
    };
    node.crash = async () => {
      // Everything at once, as SIGKILL: the network, the timers; then the actors are stopped
      // with nowhere left to send anything.
      clock.cancelAll();
      nc.cut();
      liveness.cut();
      node.up = false;
      const handle = node.handle;
      node.handle = undefined;
      await handle?.stop();
    };
    const opts: NodeOptions = {
      id,
      natsUrl: 'sim://bus',
      settings,
      start: { kind: 'members', members: [...this.o.ids] },
      storage: 'memory',
      dataDir: node.disk.dir,
      logger: pino({ level: 'info', base: { node: id } }, sink),
      onFatal: (code) => {
        node.lines.push({ event: 'fatal', code });
        void node.crash?.();
      },
      ...this.o.nodeOptions,
    };
    node.handle = await composeNode(opts, env);
    node.disk.started = true;
    node.up = true;
  }

  #stores(disk: Disk): NodeStores {
    const standIn = new StandInEpochs(join(disk.dir, 'hints', IDENTITY_FILE), disk.actorId.split('.')[0]!, (bytes) => this.#hex(bytes));
    return {
      storage: disk.storage,
      hintStore: disk.hints,
      sync: 'always',
      periodicStore: undefined,
    periodicHintStore: undefined,
      actorId: disk.actorId,
      standIn,
      // Like lmdb: the store is new only at the first start.
      storeExisted: disk.started,
      // The disk outlives the node.
      close: async () => {},
    };
  }

  async crash(id: string): Promise<void> {
    await this.nodes.get(id)!.crash?.();
  }

  up(): string[] {
    return [...this.nodes.values()].filter((n) => n.up).map((n) => n.id);
  }

  async stopAll(): Promise<void> {
    for (const node of this.nodes.values()) if (node.up) await node.crash?.();
  }
}
