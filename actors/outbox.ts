/**
 * A node's outgoing NATS traffic, coalesced per event-loop turn. Actors answer and ask one
 * message at a time, each in its own turn; sending each at once costs one socket write and, for
 * replica requests, one NATS request (a subscription entry and a timer) apiece. Instead, replies
 * queue here and replica operations queue per destination and lane, and one flush per turn
 * sends them together: nats.js writes everything published in one synchronous run as one
 * buffer, and a destination receives one batch request for all its operations of that turn.
 *
 * Publishes without a reply (the change feed) wait for the same flush: published at once, each
 * would cost a socket write of its own after the turn that made it.
 *
 * Reads and writes travel in separate lanes so a read never waits for a batch's disk commit.
 *
 * Batches are requests on the node's own inbox subscription, not nats.js `request()`: that call
 * allocates a subscription entry, a timer and an Error (a stack capture) per request, even on
 * success. The reply subject ends in the batch's number; NATS answers a batch sent to a subject
 * nobody serves with a 503 status on that same subject ("no responders"), the fast signal that
 * the node is gone. One sweep timer fails batches whose deadline passed.
 */
import type { Transport, TransportMsg as Msg, TransportSubscription as Subscription } from './transport.ts';
import { systemClock, type Clock, type ClockTimer } from './clock.ts';
import { encodeInternal, MESSAGE_OVERHEAD_BYTES, parseReplicaResults, replicaOpBytes, WireError, type ReplicaOp, type WireLimits } from '../src/wire.ts';
import type { ReplicaResult } from './vnode.ts';
import { refusal } from '../src/replicaResult.ts';

export type { ReplicaOp };

export interface ReplicaBatch {
  ops: ReplicaOp[];
  /** The sender and the version of the ring it planned with: a receiver with a newer ring forwards. */
  from?: string;
  rv?: number;
}

export interface ReplicaBatchReply {
  results: ReplicaResult[];
}

/** Upper bound of operations in one batch message; a full batch is sent without waiting. */
export const BATCH_OPS_MAX = 256;
/**
 * Replica operations waiting for one peer (queued for this turn or sent and unanswered). Past it
 * the next one fails at once as `overloaded`, without marking the peer down: a peer that slow
 * is busy, and what waits for it only grows the memory of both. Sized well above what admission
 * control lets in (src/admission.ts CLIENT_OPS_IN_PROGRESS_MAX client operations x N replicas,
 * plus a transfer's and anti-entropy's share).
 */
export const REPLICA_CALLS_PENDING_PER_PEER_MAX = 4096;
/** Replies and publishes held for this turn's flush; past it the turn's go out at once. */
export const OUTBOX_REPLIES_MAX = 4096;
/** How often batches past their deadline are failed; a coordinator's own deadline is exact. */
const SWEEP_INTERVAL_MS = 50;

interface PendingBatch {
  readonly subject: string;
  readonly ops: ReplicaOp[];
  readonly callbacks: Array<(r: ReplicaResult) => void>;
  deadlineMs: number;
  /** Estimated encoded size of `ops` (src/wire.ts replicaOpBytes). Invariant: <= batchBytesMax. */
  bytes: number;
}

/** Used when the server has not said its max_payload (nats-server's default). */
const MAX_PAYLOAD_BYTES_DEFAULT = 1024 * 1024;


export class Outbox {
  #replies: Array<{ msg: Msg; data: Uint8Array }> = [];
  /** Held like replies; each is a subject and its message. */
  #publishes: Array<[string, Uint8Array]> = [];
  #batches = new Map<string, PendingBatch>();
  #scheduled = false;
  /**
   * Sent batches awaiting their reply, by number. Invariant: each is answered or failed once.
   * An object with integer keys, not a Map: a Map that outlives a scavenge keeps, in each table
   * it outgrows, the entries it held then, so a Map with a set and a delete per batch kept a
   * share of all batches (and their coordinators) until a full GC (test/outboxMemory.test.ts).
   */
  #inFlight: Record<number, PendingBatch> = Object.create(null);
  /** Operations queued or in flight, by destination subject. Invariant: each <= REPLICA_CALLS_PENDING_PER_PEER_MAX. */
  readonly #pending = new Map<string, number>();
  #sequence = 0;
  readonly #inbox: Subscription;
  /** Figures for `status`: how well traffic coalesces (ops per batch, replies per flush). */
  readonly stats = { flushes: 0, replies: 0, batches: 0, ops: 0, failedBatches: 0, tooLarge: 0, refusedPending: 0 };
  readonly #sweep: ClockTimer;

  /** `inboxPrefix` is a subject prefix only this node subscribes under (`<prefix>.<n>`). */
  constructor(
    private readonly nc: Transport,
    private readonly inboxPrefix: string,
    private readonly header: () => { from: string; rv: number } = () => ({ from: '', rv: -1 }),
    /** What a reply may hold (src/wire.ts): every reply is checked before a callback sees it. */
    private readonly limits: WireLimits = { q: 1 << 16, keyBytesMax: 1024, valueBytesMax: 768 * 1024 },
    private readonly onRejected: (reason: string) => void = () => {},
    /** A reply's handling threw (a caller's callback): logged by the node, never the NATS reader's end. */
    private readonly onCrash: (err: unknown) => void = () => {},
    private readonly clock: Clock = systemClock,
  ) {
    this.#inbox = nc.subscribe(`${inboxPrefix}.*`, { callback: (err, msg) => {
      if (err) return;
      try {
        this.#onReply(msg);
      } catch (e) {
        this.onCrash(e);
      }
    } });
    this.#sweep = clock.setInterval(() => this.#expire(clock.now()), SWEEP_INTERVAL_MS);
    this.#sweep.unref?.();
  }

  /** Fails everything still in flight (the node is stopping) and stops listening. */
  close(): void {
    this.clock.clearInterval(this.#sweep);
    this.#inbox.unsubscribe();
    for (const id in this.#inFlight) {
      const b = this.#inFlight[id]!;
      delete this.#inFlight[id];
      this.#fail(b, 'node is stopping');
    }
  }

  respond(msg: Msg, data: Uint8Array): void {
    if (!msg.reply) return;
    this.#replies.push({ msg, data });
    this.stats.replies++;
    this.#held();
  }

  /** Publishes `data` on `subject` with this turn's flush; nothing answers it. */
  publish(subject: string, data: Uint8Array): void {
    this.#publishes.push([subject, data]);
    this.#held();
  }

  /** A reply or publish was held: past the bound the turn's go out at once, else with the flush. */
  #held(): void {
    if (this.#replies.length + this.#publishes.length >= OUTBOX_REPLIES_MAX) this.#sendHeld();
    else this.#schedule();
  }

  /**
   * The largest batch sent, in estimated bytes: the server's max_payload (the connection knows
   * it) less room for the envelope. A batch that would pass it is sent first and a new one begun.
   */
  get batchBytesMax(): number {
    return (this.nc.info?.max_payload ?? MAX_PAYLOAD_BYTES_DEFAULT) - MESSAGE_OVERHEAD_BYTES;
  }

  /** Sends `op` to the node behind `subject` in this turn's batch; `done` gets exactly one result. */
  call(subject: string, op: ReplicaOp, deadlineMs: number, done: (r: ReplicaResult) => void): void {
    const bytes = replicaOpBytes(op);
    const bytesMax = this.batchBytesMax;
    if (bytes > bytesMax) {
      this.stats.tooLarge++;
      return done({ ok: false, error: refusal('too_large', `a replica operation of about ${bytes} bytes cannot travel in one message of at most ${bytesMax}`) });
    }
    const pending = this.#pending.get(subject) ?? 0;
    if (pending >= REPLICA_CALLS_PENDING_PER_PEER_MAX) {
      this.stats.refusedPending++;
      return done({ ok: false, error: refusal('overloaded', `${pending} replica operations already wait for ${subject}`) });
    }
    // Given back by the batch when it is answered or failed (#settled), not per call: a closure
    // per operation showed on the read path.
    this.#pending.set(subject, pending + 1);
    const lane = `${op.op === 'read' ? 'r' : 'w'}|${subject}`;
    let batch = this.#batches.get(lane);
    if (batch && batch.bytes + bytes > bytesMax) {
      this.#batches.delete(lane);
      this.#send(batch);
      batch = undefined;
    }
    if (!batch) {
      batch = { subject, ops: [], callbacks: [], deadlineMs, bytes: 0 };
      this.#batches.set(lane, batch);
    }
    batch.ops.push(op);
    batch.callbacks.push(done);
    batch.bytes += bytes;
    batch.deadlineMs = Math.min(batch.deadlineMs, deadlineMs);
    if (batch.ops.length >= BATCH_OPS_MAX) {
      this.#batches.delete(lane);
      this.#send(batch);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.flush());
  }

  flush(): void {
    this.#scheduled = false;
    this.stats.flushes++;
    this.#sendHeld();
    const batches = this.#batches;
    // A new Map, not clear(): V8 keeps a cleared Map's old table, entries and all, linked to its
    // new one (for iterators), so a Map that outlives a scavenge and is cleared every turn kept
    // every turn's batches, and the coordinators their callbacks hold, alive until a full GC:
    // about 2 MB promoted per scavenge on workload C, scavenges of 5-10 ms instead of about 1.
    this.#batches = new Map();
    for (const b of batches.values()) this.#send(b);
  }

  #sendHeld(): void {
    const replies = this.#replies;
    this.#replies = [];
    for (const { msg, data } of replies) {
      try {
        msg.respond(data);
      } catch {
        // The connection is closing; the requester's own deadline answers for us.
      }
    }
    if (this.#publishes.length === 0) return;
    const publishes = this.#publishes;
    this.#publishes = [];
    for (const [subject, data] of publishes) {
      try {
        this.nc.publish(subject, data);
      } catch {
        // As above: at most once, like every core NATS publish.
      }
    }
  }

  #send(b: PendingBatch): void {
    const id = ++this.#sequence;
    this.stats.batches++;
    this.stats.ops += b.ops.length;
    this.#inFlight[id] = b;
    try {
      this.nc.publish(b.subject, encodeInternal({ ops: b.ops, ...this.header() } satisfies ReplicaBatch), { reply: `${this.inboxPrefix}.${id}` });
    } catch (err) {
      delete this.#inFlight[id];
      this.#fail(b, (err as Error).message);
    }
  }

  #onReply(msg: Msg): void {
    const id = Number(msg.subject.slice(this.inboxPrefix.length + 1));
    const b = this.#inFlight[id];
    if (!b) return; // late: already failed by the sweep (or not a number we sent)
    delete this.#inFlight[id];
    if (msg.headers?.code === 503) return this.#fail(b, `no responders on ${b.subject}`, 'no-responders');
    let results: ReplicaResult[];
    try {
      results = parseReplicaResults(msg.data, b.ops.length, this.limits);
    } catch (err) {
      if (!(err instanceof WireError)) throw err;
      this.onRejected(err.message);
      return this.#fail(b, `malformed batch reply: ${err.message}`);
    }
    this.#settled(b);
    b.callbacks.forEach((cb, i) => cb(results[i]!));
  }

  #expire(nowMs: number): void {
    for (const id in this.#inFlight) {
      const b = this.#inFlight[id]!;
      if (b.deadlineMs > nowMs) continue;
      delete this.#inFlight[id];
      this.#fail(b, `timeout: no reply from ${b.subject}`, 'timeout');
    }
  }

  /** The batch's operations no longer wait for its peer. Called once per batch, before its callbacks. */
  #settled(b: PendingBatch): void {
    const left = (this.#pending.get(b.subject) ?? 0) - b.ops.length;
    if (left > 0) this.#pending.set(b.subject, left);
    else this.#pending.delete(b.subject);
  }

  #fail(b: PendingBatch, error: string, unreachable?: 'no-responders' | 'timeout'): void {
    this.#settled(b);
    this.stats.failedBatches++;
    const result: ReplicaResult = unreachable ? { ok: false, error, unreachable } : { ok: false, error };
    for (const cb of b.callbacks) cb(result);
  }
}
