/**
 * node supervisor: one per process. It owns the NATS connection, the storage engine and the
 * actor tree (gateway, one vnode per partition replica held here), and wires NATS subjects to
 * actors. Policy for escalations from its children: a child that keeps crashing past its
 * restart intensity means this process cannot heal itself, so it logs the decision and exits
 * non-zero for the process manager (or `dkv dev`) to restart it.
 */
import nact from 'nact';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import type { ClusterSettings } from '../src/config.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { isStoredValue, type StoredClock } from '../src/replica.ts';
import { isClock } from '../src/dvvset.ts';
import { initialAssignment, ownedCounts, Ring } from '../src/ring.ts';
import { openStorage } from '../src/storage/engine.ts';
import { subjectsFor, assertValidName } from '../src/subjects.ts';
import { clientDeadline, spawnGateway, jsonResponder, type ClientKind } from './gateway.ts';
import { createLogger } from './log.ts';
import { Outbox, BATCH_OPS_MAX, type ReplicaBatch, type ReplicaOp } from './outbox.ts';
import type { CoordinatorCounters } from './coordinator.ts';
import { hintLostLogger, spawnHandoff } from './handoff.ts';
import { Health, spawnHeartbeat } from './health.ts';
import { HINTS_MAX } from '../src/hints.ts';
import { logDecision } from './supervision.ts';
import { spawnVnode, vnodePolicy, type Faults, type ReplicaResult, type VnodeOp } from './vnode.ts';

/** A member that does not report its figures within this long shows as unreachable in status. */
const STATS_TIMEOUT_MS = 500;

export interface NodeOptions {
  readonly id: string;
  readonly natsUrl: string;
  readonly settings: ClusterSettings;
  /** Static membership, in the same order on every node (the ring is derived from the order). */
  readonly members: readonly string[];
  readonly storage: 'lmdb' | 'memory';
  readonly dataDir: string;
  /** Subscribes the test-only fault subject; never on by default. */
  readonly faultsEnabled?: boolean;
  readonly logger?: Logger;
  /** Bound of the hint backlog (hinted copies); past it this node refuses to stand in. */
  readonly hintsMax?: number;
  /** Called when the supervisor gives up; the CLI exits the process with this code. */
  readonly onFatal?: (code: number) => void;
}

export interface NodeHandle {
  readonly id: string;
  readonly nc: NatsConnection;
  stop(): Promise<void>;
}

export async function startNode(opts: NodeOptions): Promise<NodeHandle> {
  const { id, settings, members } = opts;
  assertValidName('node', id);
  if (!members.includes(id)) throw new RangeError(`node ${id} is not in the member list ${members.join(',')}`);
  for (const m of members) assertValidName('node', m);
  if (new Set(members).size !== members.length) throw new RangeError(`member list has duplicates: ${members.join(',')}`);
  if (members.length < settings.n) {
    throw new RangeError(`N=${settings.n} needs at least ${settings.n} members, got ${members.length}`);
  }

  const log = opts.logger ?? createLogger({ node: id, cluster: settings.cluster });
  const subjects = subjectsFor(settings.cluster);
  const ring = new Ring(initialAssignment(members, settings.q));
  const storage = openStorage<StoredClock>({ kind: opts.storage, path: join(opts.dataDir, 'store') });
  // Hints live apart from the node's own replicas: their own environment, their own durability.
  const hintStore = openStorage<StoredClock>({ kind: opts.storage, path: join(opts.dataDir, 'hints') });
  const faults: Faults = { vnodeCrashes: 0 };
  const startedAtMs = Date.now();

  // noAsyncTraces: nats.js would otherwise build an Error (a stack capture) for every request.
  const nc = await connect({ servers: opts.natsUrl, name: `dkv-${settings.cluster}-${id}`, maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true });
  const outbox = new Outbox(nc, subjects.inbox(id));
  const health = new Health(id, members, log);
  const natsFigures = { disconnects: 0, reconnects: 0, lastDisconnectAt: undefined as string | undefined, lastReconnectAt: undefined as string | undefined };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        natsFigures.disconnects++;
        natsFigures.lastDisconnectAt = new Date().toISOString();
        log.warn({ event: 'nats-disconnect', server: (s as any).server }, 'lost the NATS connection; reconnecting');
      } else if (s.type === 'reconnect') {
        natsFigures.reconnects++;
        natsFigures.lastReconnectAt = new Date().toISOString();
        log.info({ event: 'nats-reconnect', server: (s as any).server }, 'NATS connection back; subscriptions restored');
      }
    }
  })();

  // A named system gives readable actor paths in supervision lines (dkv-n1://node/vnode-7).
  const system = nact.start({ name: `dkv-${id}` } as any);
  let stopping = false;
  const supervisor = nact.spawn(system, (state: null) => state, 'node', {
    initialState: null,
    onCrash: (_msg: unknown, err: unknown, ctx: any, child: any) => {
      logDecision(log, child ? child.path.toString() : ctx.path.toString(), err, 'exit', { escalatedTo: ctx.path.toString() });
      if (!stopping) {
        stopping = true;
        void shutdown().finally(() => (opts.onFatal ?? ((code) => process.exit(code)))(70));
      }
      return ctx.stop;
    },
  });

  const vnodes = new Map<number, any>();
  const onVnodeCrash = vnodePolicy(log);
  for (const p of ring.replicaPartitions(id, settings.n)) {
    vnodes.set(p, spawnVnode(supervisor, p, { nodeId: id, storage, faults, log, now: Date.now, onCrash: onVnodeCrash }));
  }

  const handoff = spawnHandoff(supervisor, {
    nodeId: id,
    store: hintStore,
    q: settings.q,
    hintsMax: opts.hintsMax ?? HINTS_MAX,
    health,
    outbox,
    replicaSubject: (node) => subjects.replica(node),
    log,
  });
  const heartbeat = spawnHeartbeat(supervisor, { nc, subjects, health, log, peers: members });

  const status = async (): Promise<object> => {
    const views = await Promise.all(
      members.map(async (m) => {
        try {
          const reply = await nc.request(subjects.stats(m), encodeInternal({}), { timeout: STATS_TIMEOUT_MS });
          return { ...decodeInternal<object>(reply.data), state: 'up' };
        } catch (err) {
          return { node: m, state: 'unreachable', reason: (err as Error).message };
        }
      }),
    );
    const owned = ownedCounts(ring.assignment);
    return {
      cluster: settings.cluster,
      answeredBy: id,
      settings: { n: settings.n, r: settings.r, w: settings.w, q: settings.q },
      members: views.map((v: any) => ({ ...v, partitionsOwned: owned.get(v.node) ?? 0 })),
      ring: { q: settings.q, owners: ring.assignment },
    };
  };

  const counters: CoordinatorCounters = { gets: 0, writes: 0, forwardedWrites: 0, sloppy: 0, retries: 0, failures: 0 };
  const gateway = spawnGateway(supervisor, {
    health,
    handoff: handoff.ref,
    counters,
    outbox,
    nodeId: id,
    settings,
    nc,
    subjects,
    log,
    ring: () => ring,
    vnode: (p) => vnodes.get(p),
    status,
  });

  const subs: Subscription[] = [];
  let expiredRequests = 0;
  const client = (subject: string, kind: ClientKind, queue: boolean) => {
    subs.push(
      nc.subscribe(subject, {
        ...(queue ? { queue: subjects.queue } : {}),
        callback: (err, msg) => {
          if (err) return log.warn({ err: err.message, subject }, 'subscription error');
          if ((clientDeadline(msg) ?? Infinity) < Date.now()) {
            expiredRequests++;
            return; // the client gave up on this attempt (this node was stalled); it has retried
          }
          gateway.handle({ type: 'client', kind, msg });
        },
      }),
    );
  };
  client(subjects.get, 'get', true);
  client(subjects.put, 'put', true);
  client(subjects.delete, 'delete', true);
  client(subjects.status, 'status', true);
  client(subjects.adminJoin, 'join', true);
  client(subjects.adminLeave, 'leave', true);
  client(subjects.peek(id), 'peek', false);

  subs.push(
    nc.subscribe(subjects.coordinate(id), {
      callback: (err, msg) => {
        if (!err) gateway.handle({ type: 'forwarded', msg });
      },
    }),
  );

  /**
   * Routes one operation of a peer's batch: to the vnode when this node owns the partition, to
   * the handoff buffer when it stands in for owners (`h`), or both. A malformed operation is
   * answered and never reaches an actor.
   */
  const replicaOp = (op: ReplicaOp, reply: (r: ReplicaResult) => void): VnodeOp | undefined => {
    if (!op || typeof op !== 'object' || typeof op.k !== 'string' || !Number.isInteger(op.p) || op.p < 0 || op.p >= settings.q) {
      reply({ ok: false, error: 'malformed replica operation' });
      return undefined;
    }
    const owns = vnodes.has(op.p);
    if (op.op === 'read') {
      if (owns) return { type: 'read', key: op.k, reply };
      nact.dispatch(handoff.ref, { type: 'read', partition: op.p, key: op.k, owners: ring.replicas(op.p, settings.n), reply });
      return undefined;
    }
    // A peer's clock is checked like client input: a malformed one must not reach storage.
    const hints = Array.isArray(op.h) ? op.h.filter((o) => typeof o === 'string' && members.includes(o) && o !== id) : [];
    if (op.op !== 'replicate' || !isClock(op.c, isStoredValue) || (!owns && hints.length === 0)) {
      reply({ ok: false, error: owns ? 'malformed replica operation' : `${id} holds no replica of partition ${op.p} and was given no owner to keep it for` });
      return undefined;
    }
    if (hints.length === 0) return { type: 'replicate', key: op.k, clock: op.c, reply };
    if (!owns) {
      nact.dispatch(handoff.ref, { type: 'hint', partition: op.p, key: op.k, owners: hints, clock: op.c, reply });
      return undefined;
    }
    // Both a replica and a keeper of hints (fewer reachable nodes than N): the answer is the
    // replica's, since that is the copy a quorum counts; a refused hint is logged here.
    nact.dispatch(handoff.ref, { type: 'hint', partition: op.p, key: op.k, owners: hints, clock: op.c, reply: hintLostLogger(log, op.k, hints, id) });
    return { type: 'replicate', key: op.k, clock: op.c, reply };
  };

  // Replica traffic goes straight to the vnodes (the gateway adds nothing on this path): one
  // batch per sender per turn, one vnode message per partition in it, and one answer once every
  // operation has settled.
  subs.push(
    nc.subscribe(subjects.replica(id), {
      callback: (err, msg) => {
        if (err) return;
        let ops: ReplicaOp[];
        try {
          ops = decodeInternal<ReplicaBatch>(msg.data).ops;
          if (!Array.isArray(ops) || ops.length > BATCH_OPS_MAX) throw new Error('ops must be an array of at most ' + BATCH_OPS_MAX);
        } catch (e) {
          return outbox.respond(msg, encodeInternal({ results: [], error: `undecodable replica batch: ${(e as Error).message}` }));
        }
        const results: Array<ReplicaResult | undefined> = new Array(ops.length);
        let outstanding = ops.length;
        if (outstanding === 0) return outbox.respond(msg, encodeInternal({ results }));
        const byPartition = new Map<number, VnodeOp[]>();
        ops.forEach((op, i) => {
          const vmsg = replicaOp(op, (r) => {
            if (results[i] !== undefined) return; // answered already (a crash answers all ops)
            results[i] = r;
            if (--outstanding === 0) outbox.respond(msg, encodeInternal({ results }));
          });
          if (!vmsg) return;
          const list = byPartition.get(op.p);
          if (list) list.push(vmsg);
          else byPartition.set(op.p, [vmsg]);
        });
        for (const [p, list] of byPartition) {
          nact.dispatch(vnodes.get(p), list.length === 1 ? list[0]! : { type: 'many', ops: list });
        }
      },
    }),
  );

  subs.push(nc.subscribe(subjects.ping(id), { callback: (err, msg) => void (!err && outbox.respond(msg, new Uint8Array(0))) }));

  subs.push(
    nc.subscribe(subjects.stats(id), {
      callback: (err, msg) => {
        if (err) return;
        msg.respond(
          encodeInternal({
            node: id,
            uptimeMs: Date.now() - startedAtMs,
            replicaPartitions: vnodes.size,
            storage: storage.kind,
            backlog: { ...handoff.figures },
            view: health.view(),
            nats: natsFigures,
            requests: { ...counters, expired: expiredRequests },
            outbox: outbox.stats,
          }),
        );
      },
    }),
  );

  if (opts.faultsEnabled) {
    subs.push(
      nc.subscribe(subjects.fault(id), {
        callback: (err, msg) => {
          if (err) return;
          try {
            const body = JSON.parse(new TextDecoder().decode(msg.data)) as { vnodeCrashes?: unknown };
            if (typeof body.vnodeCrashes !== 'number' || !Number.isInteger(body.vnodeCrashes) || body.vnodeCrashes < 0) {
              throw new DkvError('bad_request', '"vnodeCrashes" must be a non-negative integer');
            }
            faults.vnodeCrashes = body.vnodeCrashes;
            log.warn({ event: 'fault-armed', vnodeCrashes: faults.vnodeCrashes }, 'test fault switch armed');
            jsonResponder(msg)({ ok: true });
          } catch (e) {
            jsonResponder(msg)(errorReply(e instanceof SyntaxError ? new DkvError('bad_request', e.message) : e));
          }
        },
      }),
    );
  }

  await nc.flush();
  log.info({ event: 'node-started', nats: opts.natsUrl, members, replicaPartitions: vnodes.size, storage: storage.kind, settings }, `node ${id} serving`);

  let stopped: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    stopped ??= (async () => {
      for (const s of subs) s.unsubscribe();
      heartbeat.stop();
      handoff.stop();
      outbox.close();
      try {
        await nc.drain();
      } catch {
        // Already closed: nothing to drain.
      }
      await storage.close();
      await hintStore.close();
      nact.stop(system);
      log.info({ event: 'node-stopped', requests: counters, outbox: outbox.stats }, `node ${id} stopped`);
    })();
    return stopped;
  }

  return { id, nc, stop: shutdown };
}
