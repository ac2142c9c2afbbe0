/**
 * An in-memory NATS for the simulation: each simulated node or client gets its own connection
 * (a Transport, actors/transport.ts), and every message travels as an event on the simulation's
 * queue, after a latency drawn from the seeded PRNG, possibly dropped, duplicated or held back
 * (reordered), and never across a partition. What the actors rely on from NATS is reproduced:
 * wildcards, queue groups, request/reply, and "no responders" (a 503 status on the reply subject,
 * which is how the outbox learns a node is gone).
 *
 * No real timers, setImmediate or Date.now here: time is the VirtualClock's, and nothing is
 * delivered until the scheduler says so, which is what makes a seed replayable.
 */
import type { Transport, TransportHeaders, TransportMsg, TransportSubscription } from '../../actors/transport.ts';
import type { VirtualClock } from './clock.ts';
import { sequence, TimedQueue, type Timed } from './queue.ts';
import type { Random } from './random.ts';
import { badPublishSubject, badSubscribeSubject, subjectMatches } from './subjects.ts';

/** nats-server's default max_payload; what the outbox sizes its batches by. */
export const MAX_PAYLOAD_BYTES = 1024 * 1024;
/** nats.js' default request timeout. */
export const REQUEST_TIMEOUT_DEFAULT_MS = 1000;
const NO_RESPONDERS_CODE = 503;

export interface BusFaults {
  /** Every delivery takes a latency drawn uniformly from [latencyMinMs, latencyMaxMs] (whole ms). */
  latencyMinMs: number;
  latencyMaxMs: number;
  /** Per delivery: the message never arrives. */
  dropP: number;
  /** Per delivery: it arrives twice, each copy with its own latency. */
  duplicateP: number;
  /** Per delivered copy: held back a further [0, delayMaxMs], so later messages can overtake it. */
  delayP: number;
  delayMaxMs: number;
}

export const NO_FAULTS: BusFaults = { latencyMinMs: 1, latencyMaxMs: 3, dropP: 0, duplicateP: 0, delayP: 0, delayMaxMs: 0 };

export type TraceKind = 'deliver' | 'status' | 'lost' | 'drop' | 'dup' | 'delay' | 'cut' | 'noresp' | 'nosub' | 'crash';

export interface SimBusOptions {
  clock: VirtualClock;
  random: Random;
  faults?: Partial<BusFaults>;
  /** The tie-break sequence; the simulation shares one with the clock (see queue.ts). */
  nextSeq?: () => number;
  /** A subscriber's callback threw: reported and the run goes on, as NATS' reader would. */
  onCallbackError?: (err: unknown, where: string) => void;
  /** Everything the bus decides or does, for the simulation's trace. */
  onTrace?: (kind: TraceKind, subject: string, detail: string) => void;
}

export interface BusStats {
  published: number;
  delivered: number;
  dropped: number;
  duplicated: number;
  delayed: number;
  /** Deliveries not even attempted because a partition separates the two sides. */
  cut: number;
  noResponders: number;
  /** Arrived after the subscription was gone (unsubscribed or connection closed). */
  lost: number;
}

/** What `connect` returns: one simulated node's (or client's) NATS connection. */
export interface SimConnection extends Transport {
  readonly name: string;
  readonly closed: boolean;
  close(): void;
}

class StatusHeaders implements TransportHeaders {
  constructor(readonly code: number, readonly description: string) {}
  get(_name: string): string {
    return '';
  }
}

const NO_RESPONDERS_HEADERS = new StatusHeaders(NO_RESPONDERS_CODE, 'No Responders');

class SimMsg implements TransportMsg {
  constructor(
    readonly subject: string,
    readonly data: Uint8Array,
    readonly reply: string | undefined,
    readonly headers: TransportHeaders | undefined,
    /** The receiving connection: a response leaves from it, as in NATS. */
    private readonly conn: Connection,
  ) {}

  respond(data?: Uint8Array): boolean {
    if (!this.reply) return false;
    this.conn.publish(this.reply, data);
    return true;
  }
}

interface Sub {
  readonly id: number;
  readonly conn: Connection;
  readonly pattern: string;
  readonly queue: string | undefined;
  readonly callback: (err: Error | null, msg: TransportMsg) => void;
  active: boolean;
}

interface Delivery extends Timed {
  readonly sub: Sub;
  readonly msg: SimMsg;
}

class Connection implements SimConnection {
  closed = false;
  readonly info = { max_payload: MAX_PAYLOAD_BYTES };
  readonly subs = new Set<Sub>();
  /** Requests awaiting a reply; closing the connection fails them, as nats.js does. */
  readonly #requests = new Set<(err: Error) => void>();
  #requestCount = 0;

  constructor(readonly bus: SimBus, readonly id: number, readonly name: string) {}

  publish(subject: string, data?: Uint8Array, opts?: { reply?: string }): void {
    this.#checkOpen();
    this.bus._send(this, subject, data ?? new Uint8Array(0), opts?.reply);
  }

  subscribe(subject: string, opts?: { queue?: string; callback?: (err: Error | null, msg: TransportMsg) => void }): TransportSubscription {
    this.#checkOpen();
    if (!opts?.callback) throw new Error('SimBus: only callback subscriptions are simulated');
    const sub = this.bus._subscribe(this, subject, opts.queue, opts.callback);
    return { unsubscribe: () => this.bus._unsubscribe(sub) };
  }

  request(subject: string, data?: Uint8Array, opts?: { timeout: number }): Promise<TransportMsg> {
    if (this.closed) return Promise.reject(new Error('connection closed'));
    // nats.js' inboxes are `_INBOX.<unique>`; the connection's number keeps them unique and replayable.
    const inbox = `_INBOX.c${this.id}.${++this.#requestCount}`;
    return new Promise<TransportMsg>((resolve, reject) => {
      const finish = (settle: () => void): void => {
        sub.unsubscribe();
        this.bus.clock.clearTimeout(timer);
        this.#requests.delete(fail);
        settle();
      };
      const fail = (err: Error): void => finish(() => reject(err));
      const sub = this.subscribe(inbox, { callback: (_err, msg) => {
        if (msg.headers?.code === NO_RESPONDERS_CODE) fail(new Error('no responders'));
        else finish(() => resolve(msg));
      } });
      const timer = this.bus.clock.setTimeout(() => fail(new Error('timeout')), opts?.timeout ?? REQUEST_TIMEOUT_DEFAULT_MS);
      this.#requests.add(fail);
      try {
        this.publish(subject, data, { reply: inbox });
      } catch (err) {
        fail(err as Error);
      }
    });
  }

  flush(): Promise<void> {
    // Deliveries are on the simulation's queue the moment they are published.
    return this.closed ? Promise.reject(new Error('connection closed')) : Promise.resolve();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const sub of [...this.subs]) this.bus._unsubscribe(sub);
    for (const fail of [...this.#requests]) fail(new Error('connection closed'));
    this.bus._closed(this);
  }

  #checkOpen(): void {
    if (this.closed) throw new Error('connection closed');
  }
}

export class SimBus {
  readonly clock: VirtualClock;
  readonly random: Random;
  readonly stats: BusStats = { published: 0, delivered: 0, dropped: 0, duplicated: 0, delayed: 0, cut: 0, noResponders: 0, lost: 0 };
  /** Counts every scheduled delivery and subscription change: the scheduler's settle watches it. */
  changes = 0;
  #faults: BusFaults;
  readonly #options: SimBusOptions;
  readonly #nextSeq: () => number;
  readonly #queue = new TimedQueue<Delivery>();
  /** Live subscriptions in the order they were made: routing walks them in this order, so it is replayable. */
  readonly #subs = new Map<number, Sub>();
  readonly #open = new Map<string, Connection>();
  #ids = 0;
  /** Connection name -> partition group; undefined when the network is whole. */
  #groups: Map<string, number> | undefined;

  constructor(options: SimBusOptions) {
    this.#options = options;
    this.clock = options.clock;
    this.random = options.random;
    this.#nextSeq = options.nextSeq ?? sequence();
    this.#faults = checkFaults({ ...NO_FAULTS, ...options.faults });
  }

  get faults(): Readonly<BusFaults> {
    return this.#faults;
  }

  /** Changes fault rates mid-run (e.g. a calm phase, then a storm). */
  setFaults(faults: Partial<BusFaults>): void {
    this.#faults = checkFaults({ ...this.#faults, ...faults });
  }

  /** A connection named `name`: the name is what partitions refer to, so two open ones may not share it. */
  connect(name: string): SimConnection {
    if (this.#open.has(name)) throw new Error(`SimBus: a connection named "${name}" is already open`);
    const conn = new Connection(this, ++this.#ids, name);
    this.#open.set(name, conn);
    return conn;
  }

  /**
   * Splits the network: connections in different groups cannot see each other. Names in no
   * group (clients, nodes started later) form one more group together.
   */
  partition(groups: string[][]): void {
    const map = new Map<string, number>();
    groups.forEach((names, i) => {
      for (const name of names) {
        if (map.has(name)) throw new Error(`SimBus.partition: "${name}" is in two groups`);
        map.set(name, i);
      }
    });
    this.#groups = map;
  }

  heal(): void {
    this.#groups = undefined;
  }

  canSee(a: string, b: string): boolean {
    if (!this.#groups) return true;
    return (this.#groups.get(a) ?? -1) === (this.#groups.get(b) ?? -1);
  }

  /** Deliveries scheduled and not yet run. */
  pending(): number {
    return this.#queue.size;
  }

  nextDue(): Timed | undefined {
    return this.#queue.peek();
  }

  nextDueMs(): number | undefined {
    return this.#queue.peek()?.dueMs;
  }

  /** Advances the clock to the earliest delivery and makes it; false when nothing is in flight. */
  runNext(): boolean {
    const d = this.#queue.pop();
    if (!d) return false;
    this.clock.advanceTo(d.dueMs);
    this.changes++;
    const where = `${d.sub.pattern}@${d.sub.conn.name}`;
    if (!d.sub.active) {
      this.stats.lost++;
      this.#trace('lost', d.msg.subject, where);
      return true;
    }
    this.stats.delivered++;
    this.#trace(d.msg.headers ? 'status' : 'deliver', d.msg.subject, where);
    try {
      d.sub.callback(null, d.msg);
    } catch (err) {
      this.#trace('crash', d.msg.subject, where);
      this.#options.onCallbackError?.(err, `subscriber ${where}`);
    }
    return true;
  }

  /** @internal Connection.publish. */
  _send(from: Connection, subject: string, data: Uint8Array, reply: string | undefined): void {
    const bad = badPublishSubject(subject) ?? (reply === undefined ? undefined : badPublishSubject(reply));
    if (bad) throw new Error(`SimBus: ${bad}`);
    if (data.length > MAX_PAYLOAD_BYTES) throw new Error(`SimBus: max_payload exceeded: ${data.length} > ${MAX_PAYLOAD_BYTES} bytes`);
    this.stats.published++;
    const recipients = this.#route(from, subject);
    if (recipients.length === 0) {
      if (reply === undefined) return this.#trace('nosub', subject, from.name);
      // The server answers the sender, so the status goes to reply subscribers the sender can see.
      this.stats.noResponders++;
      this.#trace('noresp', subject, from.name);
      for (const sub of this.#route(from, reply)) this.#schedule(sub, reply, new Uint8Array(0), undefined, NO_RESPONDERS_HEADERS);
      return;
    }
    for (const sub of recipients) this.#schedule(sub, subject, data, reply, undefined);
  }

  /** @internal Connection.subscribe. */
  _subscribe(conn: Connection, pattern: string, queue: string | undefined, callback: Sub['callback']): Sub {
    const bad = badSubscribeSubject(pattern);
    if (bad) throw new Error(`SimBus: ${bad}`);
    const sub: Sub = { id: ++this.#ids, conn, pattern, queue, callback, active: true };
    this.#subs.set(sub.id, sub);
    conn.subs.add(sub);
    this.changes++;
    return sub;
  }

  /** @internal */
  _unsubscribe(sub: Sub): void {
    if (!sub.active) return;
    sub.active = false;
    this.#subs.delete(sub.id);
    sub.conn.subs.delete(sub);
    this.changes++;
  }

  /** @internal Connection.close. */
  _closed(conn: Connection): void {
    if (this.#open.get(conn.name) === conn) this.#open.delete(conn.name);
    this.changes++;
  }

  /** Who gets a message on `subject` sent by `from`: every plain subscriber and one member per queue group, among those `from` can see. */
  #route(from: Connection, subject: string): Sub[] {
    const out: Sub[] = [];
    const groups = new Map<string, Sub[]>();
    let cut = 0;
    for (const sub of this.#subs.values()) {
      if (!subjectMatches(sub.pattern, subject)) continue;
      if (!this.canSee(from.name, sub.conn.name)) {
        cut++;
        continue;
      }
      if (sub.queue === undefined) {
        out.push(sub);
        continue;
      }
      // NATS keys a queue group by its subscription subject and queue name.
      const key = `${sub.pattern} ${sub.queue}`;
      const members = groups.get(key);
      if (members) members.push(sub);
      else groups.set(key, [sub]);
    }
    for (const members of groups.values()) out.push(this.random.pick(members));
    if (cut > 0) {
      this.stats.cut += cut;
      this.#trace('cut', subject, `${from.name} x${cut}`);
    }
    return out;
  }

  #schedule(sub: Sub, subject: string, data: Uint8Array, reply: string | undefined, headers: TransportHeaders | undefined): void {
    const f = this.#faults;
    const where = `${sub.pattern}@${sub.conn.name}`;
    if (this.random.chance(f.dropP)) {
      this.stats.dropped++;
      return this.#trace('drop', subject, where);
    }
    let copies = 1;
    if (this.random.chance(f.duplicateP)) {
      copies = 2;
      this.stats.duplicated++;
      this.#trace('dup', subject, where);
    }
    for (let i = 0; i < copies; i++) {
      let latencyMs = this.random.between(f.latencyMinMs, f.latencyMaxMs);
      if (this.random.chance(f.delayP)) {
        latencyMs += this.random.between(0, f.delayMaxMs);
        this.stats.delayed++;
        this.#trace('delay', subject, where);
      }
      // Each copy its own bytes: a real receiver decodes from the socket, never the sender's buffer.
      const msg = new SimMsg(subject, data.slice(), reply, headers, sub.conn);
      this.#queue.push({ dueMs: this.clock.now() + latencyMs, seq: this.#nextSeq(), sub, msg });
      this.changes++;
    }
  }

  #trace(kind: TraceKind, subject: string, detail: string): void {
    this.#options.onTrace?.(kind, subject, detail);
  }
}

function checkFaults(f: BusFaults): BusFaults {
  const probs = [f.dropP, f.duplicateP, f.delayP];
  if (probs.some((p) => !(p >= 0 && p <= 1))) throw new Error(`SimBus: fault probabilities must be in [0, 1]: ${JSON.stringify(f)}`);
  const ms = [f.latencyMinMs, f.latencyMaxMs, f.delayMaxMs];
  if (ms.some((x) => !Number.isInteger(x) || x < 0) || f.latencyMaxMs < f.latencyMinMs) {
    throw new Error(`SimBus: latencies must be whole ms with 0 <= min <= max: ${JSON.stringify(f)}`);
  }
  return f;
}
