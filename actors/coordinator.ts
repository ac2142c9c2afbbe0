/**
 * coordinator: one short-lived actor per get/put/delete, like Riak's get/put FSM. The rules are
 * pure state machines (src/getCore.ts, src/writeCore.ts); this file only performs what they
 * return (asks replicas over the outbox or of this node's vnode, answers, sets timers, counts)
 * and feeds back what came of it, with the time, as events. Replies and the deadline arrive as
 * messages, so it never blocks on I/O.
 *
 * It is an actor without nact: a mailbox of its own that runs each message to completion, one at
 * a time, in the turn it arrives (a message sent while one is running waits for it). A nact actor
 * per request cost a spawn, and a setImmediate, a context object and a promise per message, about
 * six times per request: measured with `npm run bench` (docs/performance.md), a tenth of a node's
 * CPU. The supervision contract is that of an actor: a crash is logged as a decision with the
 * actor path (`<gateway>/coordinator-<kind>-<n>`) and stops it.
 *
 * Policy: stop. A coordinator holds nothing worth restarting; its request is answered
 * `internal` and the client may retry.
 */
import nact from 'nact';
import type { Transport as NatsConnection } from './transport.ts';
import type { Logger } from 'pino';
import type { Clock, ClockTimer } from './clock.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { plainJson } from '../src/wire.ts';
import type { ClusterSettings } from '../src/config.ts';
import { readReplyBody } from './readReply.ts';
import { DkvError, errorReply, isNoResponders, type ErrorReply } from '../src/errors.ts';
import { getReply, type GetRequest, type WriteRequest } from '../src/protocol.ts';
import { liveValuesAt, readContext, valueToStore, type StoredClock } from '../src/replica.ts';
import { changeEvent } from '../src/changeFeed.ts';
import type { Hash } from '../src/merkle.ts';
import type { Ring } from '../src/ring.ts';
import type { Subjects } from '../src/subjects.ts';
import { startGet, stepGet, type GetEvent, type GetState } from '../src/getCore.ts';
import { startWrite, stepWrite, type WriteEvent, type WriteState } from '../src/writeCore.ts';
import type { Counter, Effect, IsUp } from '../src/requestCore.ts';
import { hintLostLogger, type HandoffMsg } from './handoff.ts';
import type { Health } from './health.ts';
import type { Outbox, ReplicaOp } from './outbox.ts';
import { logDecision } from './supervision.ts';
import { NOT_HELD, type Faults, type Reply, type ReplicaResult } from './vnode.ts';
import type { VnodeMail } from './vnodeMail.ts';
import type { RequestMetrics } from './metrics.ts';
import type { CoordinatorCounters } from './coordinatorCounters.ts';

const encoder = new TextEncoder();
const DURABLE_HINT = { durable: true } as const;

export { REPLICA_ATTEMPT_MS, REPLICA_RETRIES_MAX } from '../src/requestCore.ts';
/** Messages waiting for one coordinator while it handles another (see `send`). */
export const COORDINATOR_MAILBOX_MESSAGES_MAX = 64;

export interface CoordinatorDeps {
  readonly nodeId: string;
  readonly clock: Clock;
  readonly settings: ClusterSettings;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly log: Logger;
  readonly counters: CoordinatorCounters;
  readonly outbox: Outbox;
  readonly health: Health;
  readonly handoff: any;
  readonly faults: Faults;
  ring(): Ring;
  vnode(partition: number): any | undefined;
  /** Reads this node's replica of the partition at once; false when it holds none (see actors/node.ts). */
  readReplica(partition: number, key: string, reply: Reply): boolean;
  /** This node's copy at once: null for none, undefined when it holds no complete replica. */
  localCopy(partition: number, key: string): StoredClock | null | undefined;
  /** Operations for this node's vnodes, run once the sender's turn is over (actors/vnodeMail.ts). */
  readonly vnodeMail: VnodeMail;
  /** The node's metrics: failed quorums and siblings per read (actors/metrics.ts). */
  readonly metrics?: Pick<RequestMetrics, 'failed' | 'read'>;
  /** The node runs sync mode `one`: each write it coordinates asks one replica for an fsync. */
  readonly durableOne?: boolean;
}

/** `clientDeadlineMs`: when the client stops waiting; the request never outlives it. */
export type Job =
  | { kind: 'get'; req: GetRequest; clientDeadlineMs?: number | undefined }
  | { kind: 'put' | 'delete'; req: WriteRequest; forwarded: boolean; clientDeadlineMs?: number | undefined };

/** A write sent on to a node that will hold it (`internal.<node>.coordinate`, msgpack). */
export interface ForwardedWrite {
  op: 'coordinate';
  kind: 'put' | 'delete';
  req: WriteRequest;
  clientDeadlineMs?: number;
}

/** What the client is sent: a protocol reply object, or an error reply. */
export type Respond = (body: object) => void;

type Event = GetEvent | WriteEvent;

let sequence = 0;

/**
 * The failure detector's view as the cores ask it, made once per node: a named closure per
 * request costs a `__name` call (esbuild's keepNames, which tsx uses) and a new function shape.
 */
const isUpByHealth = new WeakMap<Health, IsUp>();
function isUpOf(health: Health): IsUp {
  let isUp = isUpByHealth.get(health);
  if (isUp === undefined) isUpByHealth.set(health, (isUp = (node: string) => health.isUp(node)));
  return isUp;
}

export function spawnCoordinator(parentPath: string, deps: CoordinatorDeps, job: Job, respond: Respond): void {
  new Coordinator(parentPath, deps, job, respond).begin();
}

/**
 * A class rather than closures: tsx compiles with esbuild's keepNames, which wraps every named
 * closure in a `__name` call each time it is created; a dozen per request showed in profiles.
 */
class Coordinator {
  readonly #id = ++sequence;
  #partition = 0;
  #state: GetState | WriteState | undefined;
  #timeoutTimer: ClockTimer | undefined;
  #repairTimer: ClockTimer | undefined;
  #done = false;
  #responded = false;
  /** The mailbox: messages that arrived while one was running; made on the first such message. */
  #mailbox: Event[] | undefined;
  #running = false;
  /** The write went to another node to coordinate: an error answer is that node's, relayed. */
  #forwarding = false;

  constructor(
    private readonly parentPath: string,
    private readonly deps: CoordinatorDeps,
    private readonly job: Job,
    private readonly respond: Respond,
  ) {}

  /** Plans and fans out in the turn the request arrived. */
  begin(): void {
    this.#running = true;
    try {
      this.#perform(this.#start());
      this.#drain();
    } catch (err) {
      this.#crashed(err);
    } finally {
      this.#running = false;
    }
  }

  #start(): Effect[] {
    const { deps, job } = this;
    if (deps.faults.coordinatorCrashes > 0) {
      deps.faults.coordinatorCrashes -= 1;
      throw new Error(`injected coordinator fault (${job.kind} of ${JSON.stringify(job.req.key)})`);
    }
    const { settings, nodeId } = deps;
    const ring = deps.ring();
    const partition = ring.partitionOf(job.req.key);
    this.#partition = partition;
    const preference = ring.preferenceList(partition);
    const nowMs = this.deps.clock.now();
    const deadlineMs = Math.min(nowMs + settings.requestTimeoutMs, job.clientDeadlineMs ?? Infinity);
    const isUp = isUpOf(deps.health);
    const clientDeadlineMs = job.clientDeadlineMs;
    if (job.kind === 'get') {
      const local = deps.localCopy(partition, job.req.key);
      const started = startGet({ self: nodeId, key: job.req.key, preference, n: settings.n, needed: job.req.r ?? settings.r, deadlineMs, clientDeadlineMs, local, isUp }, nowMs);
      this.#state = started.state;
      return started.effects;
    }
    const needed = job.req.w ?? settings.w;
    const started = startWrite({ self: nodeId, kind: job.kind, preference, n: settings.n, needed, deadlineMs, clientDeadlineMs, forwarded: job.forwarded, context: job.req.context, isUp, durableOne: deps.durableOne }, nowMs);
    this.#state = started.state;
    return started.effects;
  }

  /** Delivers a message: at once, or after the message being handled (one at a time). */
  send(msg: Event): void {
    if (this.#done) return;
    if (!this.#running) {
      this.#running = true;
      try {
        this.#perform(this.#step(msg));
        this.#drain();
      } catch (err) {
        this.#crashed(err);
      } finally {
        this.#running = false;
      }
      return;
    }
    // Messages queue only while one is being handled, a few replies at most (N replicas,
    // retries, a timer): a mailbox past its bound means a loop, and the policy for that is stop.
    const mailbox = (this.#mailbox ??= []);
    if (mailbox.length >= COORDINATOR_MAILBOX_MESSAGES_MAX) return this.#crashed(new Error(`mailbox past its bound of ${COORDINATOR_MAILBOX_MESSAGES_MAX} messages`));
    mailbox.push(msg);
  }

  #drain(): void {
    const mailbox = this.#mailbox;
    if (mailbox === undefined) return;
    while (mailbox.length > 0 && !this.#done) this.#perform(this.#step(mailbox.shift()!));
  }

  #step(msg: Event): Effect[] {
    const nowMs = this.deps.clock.now();
    if (msg.type === 'replied' && msg.node !== this.deps.nodeId) {
      // Any answer, even a refusal, shows the node is there: only silence counts against it.
      const r = msg.result;
      this.deps.health.observe(msg.node, !r.ok && r.unreachable ? r.unreachable : 'ok');
    }
    return this.job.kind === 'get' ? stepGet(this.#state as GetState, msg as GetEvent, nowMs) : stepWrite(this.#state as WriteState, msg as WriteEvent, nowMs);
  }

  /** Policy: stop. Answer the request `internal`, log the decision with the actor path. */
  #crashed(err: unknown): void {
    if (!this.#responded) {
      try {
        this.#answer(errorReply(new DkvError('internal', `coordinator crashed: ${(err as Error).message}`)));
      } catch {
        // The reply path itself failed; the log line below is all that is left to do.
      }
    }
    logDecision(this.deps.log, `${this.parentPath}/coordinator-${this.job.kind}-${this.#id}`, err, 'stop');
    if (this.#mailbox) this.#mailbox.length = 0;
    this.#stop();
  }

  #stop(): void {
    if (this.#timeoutTimer) this.deps.clock.clearTimeout(this.#timeoutTimer);
    if (this.#repairTimer) this.deps.clock.clearTimeout(this.#repairTimer);
    this.#done = true;
  }

  #answer(body: object): void {
    if (this.#responded) return;
    this.#responded = true;
    if ('error' in body) {
      this.deps.counters.failures++;
      if (!this.#forwarding) this.deps.metrics?.failed(body);
    }
    this.respond(body);
  }

  #perform(effects: readonly Effect[]): void {
    for (const e of effects) {
      switch (e.type) {
        case 'read':
          this.#read(e.node, e.round, e.digest, e.deadlineMs);
          break;
        case 'replicate':
          this.#replicate(e.node, e.round, e.clock, e.hints, e.deadlineMs, e.durable);
          break;
        case 'coordinate':
          this.#coordinate(e.hints, e.standFor, e.durable);
          break;
        case 'keepHints':
          this.#keepHints(e.node, e.owners, e.clock, e.deadlineMs);
          break;
        case 'forward':
          this.#forward(e.candidates, e.deadlineMs);
          break;
        case 'answer':
          this.#answer(e.body);
          break;
        case 'changed':
          this.#publishChange(e.clock);
          break;
        case 'answerRead': {
          const req = this.job.req as GetRequest;
          const merged = e.merged;
          const { metrics, counters } = this.deps;
          this.#answer(
            readReplyBody(this.deps, 'get', () => {
              const values = liveValuesAt(merged, this.deps.clock.now());
              metrics?.read(values.length);
              if (values.length > 1) counters.siblingReads++;
              return getReply(req.key, values, readContext(merged, e.coordinator), req.encoding);
            }),
          );
          break;
        }
        case 'schedule':
          this.#schedule(e.timer, e.atMs, e.node);
          break;
        case 'count':
          this.deps.counters[e.counter]++;
          break;
        case 'stop':
          this.#stop();
          break;
      }
    }
  }

  #schedule(timer: 'timeout' | 'repair' | 'retry', atMs: number, node: string | undefined): void {
    const clock = this.deps.clock;
    const delayMs = Math.max(0, atMs - clock.now());
    if (timer === 'timeout') this.#timeoutTimer = clock.setTimeout(() => this.send({ type: 'timeout' }), delayMs);
    else if (timer === 'repair') this.#repairTimer = clock.setTimeout(() => this.send({ type: 'repair' }), delayMs);
    else clock.setTimeout(() => this.send({ type: 'retry', node: node! }), delayMs);
  }

  #replied(node: string, round: number): Reply {
    return (result: ReplicaResult) => this.send({ type: 'replied', node, round, result });
  }

  #read(node: string, round: number, digest: Hash | undefined, deadlineMs: number): void {
    const { deps } = this;
    const partition = this.#partition;
    const key = this.job.req.key;
    const reply = this.#replied(node, round);
    if (node === deps.nodeId) {
      if (deps.readReplica(partition, key, reply)) return;
      const vnode = deps.vnode(partition);
      if (vnode) return deps.vnodeMail.send(vnode, { type: 'read', key, reply });
      // This node stands in for unreachable owners: its hint store is its replica.
      const owners = (this.#state as GetState).fan?.owners ?? [];
      return nact.dispatch(deps.handoff, { type: 'read', partition, key, owners, reply } satisfies HandoffMsg);
    }
    const op: ReplicaOp = digest !== undefined ? { op: 'read', p: partition, k: key, d: digest } : { op: 'read', p: partition, k: key };
    deps.outbox.call(deps.subjects.replica(node), op, deadlineMs, reply);
  }

  #replicate(node: string, round: number, clock: StoredClock, hints: readonly string[], deadlineMs: number, durable: true | undefined): void {
    const { deps } = this;
    const partition = this.#partition;
    const key = this.job.req.key;
    const reply = this.#replied(node, round);
    if (node === deps.nodeId) {
      const vnode = deps.vnode(partition);
      if (vnode) return deps.vnodeMail.send(vnode, { type: 'replicate', key, clock, reply, durable });
      // No replica here (its vnode is gone): its hint store keeps the copy for those it stands in for.
      if (hints.length === 0) return reply(NOT_HELD);
      return nact.dispatch(deps.handoff, { type: 'hint', partition, key, owners: hints, clock, reply, ...(durable ? DURABLE_HINT : {}) } satisfies HandoffMsg);
    }
    const op: ReplicaOp = hints.length > 0 ? { op: 'replicate', p: partition, k: key, c: clock, h: [...hints] } : { op: 'replicate', p: partition, k: key, c: clock };
    if (durable) op.dur = true;
    deps.outbox.call(deps.subjects.replica(node), op, deadlineMs, reply);
  }

  /** The change feed (DESIGN.md §3): at most once, like every core NATS publish; never fails the write. */
  #publishChange(clock: StoredClock): void {
    const { deps } = this;
    const req = this.job.req as WriteRequest;
    try {
      const data = encoder.encode(JSON.stringify(changeEvent(req.key, clock, deps.clock.now(), req.encoding)));
      deps.outbox.publish(deps.subjects.changes(this.#partition), data);
    } catch (err) {
      deps.log.warn({ event: 'change-not-published', err: (err as Error).message }, 'a change could not be published on the feed');
    }
  }

  /** `durable`: fsynced before the reply (sync mode `one`), by the vnode or, standing in, the hint store. */
  #coordinate(hints: readonly string[], standFor: readonly string[], durable: true | undefined): void {
    const { deps } = this;
    const partition = this.#partition;
    const nodeId = deps.nodeId;
    const req = this.job.req as WriteRequest;
    const key = req.key;
    const reply = this.#replied(nodeId, 0);
    // The expiry is set here, by the coordinating node's clock (DESIGN.md §3, "ttl_ms").
    const value = valueToStore(req.value, req.ttlMs, deps.clock.now());
    const vnode = deps.vnode(partition);
    if (vnode && hints.length > 0) {
      return deps.vnodeMail.send(vnode, {
        type: 'coordinate',
        key,
        context: req.context,
        value,
        reply,
        durable,
        computed: (clock, actor) => {
          nact.dispatch(deps.handoff, { type: 'hint', partition, key, owners: hints, clock, reply: hintLostLogger(deps.log, key, hints, nodeId) } satisfies HandoffMsg);
          this.send({ type: 'computed', clock, actor });
        },
      });
    }
    // Unnamed callbacks: a named closure per write costs a `__name` call under tsx (see isUpOf).
    if (vnode) return deps.vnodeMail.send(vnode, { type: 'coordinate', key, context: req.context, value, reply, durable, computed: (clock, actor) => this.send({ type: 'computed', clock, actor }) });
    // This node stands in for unreachable owners: its hint store is its replica.
    nact.dispatch(deps.handoff, { type: 'coordinate', partition, key, owners: standFor, context: req.context, value, computed: (clock, actor) => this.send({ type: 'computed', clock, actor }), reply, ...(durable ? DURABLE_HINT : {}) } satisfies HandoffMsg);
  }

  #keepHints(keeper: string, owners: readonly string[], clock: StoredClock, deadlineMs: number): void {
    const { deps } = this;
    const key = this.job.req.key;
    const logged = hintLostLogger(deps.log, key, owners, keeper);
    if (keeper === deps.nodeId) {
      nact.dispatch(deps.handoff, { type: 'hint', partition: this.#partition, key, owners, clock, reply: logged } satisfies HandoffMsg);
    } else {
      deps.outbox.call(deps.subjects.replica(keeper), { op: 'replicate', p: this.#partition, k: key, c: clock, h: [...owners] }, deadlineMs, logged);
    }
  }

  /** Tries each candidate in turn over NATS; the outcome comes back as a `forwarded` message. */
  #forward(candidates: readonly string[], deadlineMs: number): void {
    const deps = this.deps;
    this.#forwarding = true;
    const job = this.job as Extract<Job, { kind: 'put' | 'delete' }>;
    const body: ForwardedWrite = { op: 'coordinate', kind: job.kind, req: job.req, clientDeadlineMs: deadlineMs };
    (async (): Promise<WriteEvent> => {
      let lastError: ErrorReply | undefined;
      let allGone = true;
      for (const [i, node] of candidates.entries()) {
        const remaining = deadlineMs - deps.clock.now();
        if (remaining <= 0) break;
        // Leave time for the next candidate: one stalled node must not use up the deadline.
        const hopMs = Math.max(1, Math.floor(remaining / (candidates.length - i)));
        try {
          const reply = await deps.nc.request(deps.subjects.coordinate(node), encodeInternal(body), { timeout: hopMs });
          deps.health.observe(node, 'ok');
          // Relayed to the client as JSON: only JSON's types may pass (src/wire.ts).
          const answer = plainJson(decodeInternal<unknown>(reply.data));
          if (answer === null || typeof answer !== 'object' || Array.isArray(answer)) throw new Error('a forwarded write was answered with something other than a reply object');
          return { type: 'forwarded', body: answer, replan: false };
        } catch (err) {
          const gone = isNoResponders(err);
          allGone &&= gone;
          deps.health.observe(node, gone ? 'no-responders' : 'timeout');
          lastError = errorReply(new DkvError('unavailable', `forwarding to ${node} failed: ${(err as Error).message}`));
        }
      }
      const failed = lastError ?? errorReply(new DkvError('timeout', 'deadline passed before the write could be forwarded'));
      return { type: 'forwarded', body: failed, replan: lastError !== undefined && allGone };
    })().then((m) => this.send(m));
  }
}
