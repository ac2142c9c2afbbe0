/**
 * node supervisor: one per process. It owns the NATS connection, the storage engine and the
 * actor tree (gateway, one vnode per partition replica held here), and wires NATS subjects to
 * actors. Policy for escalations from its children: a child that keeps crashing past its
 * restart intensity means this process cannot heal itself, so it logs the decision and exits
 * non-zero for the process manager (or `dkv dev`) to restart it.
 */
import nact from 'nact';
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { connectWithRetry } from './natsConnect.ts';
import { natsConnectionOptions } from '../src/nats/connectOptions.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { mergeReplica, readDigest, sameDigest, type StoredClock } from '../src/replica.ts';
import { Ring } from '../src/ring.ts';
import { memberOf, type View } from '../src/membership.ts';
import { plan } from '../src/partitionTable.ts';
import { firstPlanMode, ownChanges, pullSources } from '../src/viewRules.ts';
import { spawnMembership } from './membership.ts';
import { checkStart, type NodeHandle, type NodeOptions } from './nodeOptions.ts';
import { loadStateFiles, openStores } from './store.ts';
import { spawnTransfer, type TransferRequest } from './transfer.ts';
import { spawnAntiEntropy, type AeRequest } from './antiEntropy.ts';
import { MerkleTree } from '../src/merkle.ts';
import { subscribeTestFaults } from './testFaults.ts';
import { gatherFigures } from './figures.ts';
import { clusterStatus } from '../src/clusterStatus.ts';
import { REPLICA_READ_THROUGH_MS, serveReplicas } from './replicaServer.ts';
import { adminHandler } from './admin.ts';
import { startForeground } from './foreground.ts';
import { subjectsFor, isValidName } from '../src/subjects.ts';
import { clientDeadline, spawnGateway, type ClientKind } from './gateway.ts';
import { createLogger } from './log.ts';
import { Outbox } from './outbox.ts';
import { parseAeRequest, parseTransferRequest, type WireLimits } from '../src/wire.ts';
import { WireRejections } from './wireRejections.ts';
import { admission, REPLICA_OPS_IN_PROGRESS_MAX } from '../src/admission.ts';
import type { CoordinatorCounters } from './coordinator.ts';
import { spawnHandoff } from './handoff.ts';
import { Health, spawnHeartbeat } from './health.ts';
import { HINTS_MAX } from '../src/hints.ts';
import { logDecision } from './supervision.ts';
import { VnodeMail } from './vnodeMail.ts';
import { retireVnode, spawnVnode, vnodePolicy, type Faults, type ReplicaResult, type TreeHolder } from './vnode.ts';

/** A member that does not report its figures within this long shows as unreachable in status. */
const STATS_TIMEOUT_MS = 500;
const ADMIN_PING_TIMEOUT_MS = 1000;
/** Transfer or anti-entropy requests of peers served at once, per kind. Honest peers ask one at a time each. */
const INTERNAL_REQUESTS_IN_PROGRESS_MAX = 16;

export type { NodeHandle, NodeOptions } from './nodeOptions.ts';

export async function startNode(opts: NodeOptions): Promise<NodeHandle> {
  const { id, settings, start } = opts;
  checkStart(id, start, settings);

  const log = opts.logger ?? createLogger({ node: id, cluster: settings.cluster });
  const subjects = subjectsFor(settings.cluster);
  // The ring follows the membership view (actors/membership.ts); undefined until this node is in one.
  let ring: Ring | undefined;
  let ringVersion = -1;
  // Everything on disk is read and checked before anything opens (actors/store.ts).
  const partitions = loadStateFiles(log, opts.dataDir, settings.q);
  /** Members of the view not removed; recomputed once per view, read on every replica write. */
  let members: readonly string[] = [];
  const stores = openStores(opts, log);
  const { storage, hintStore, standIn, actorId, periodicStore, sync } = stores;
  /** How the first ring this node sees is planned (then always 'follow'). */
  let firstPlan = firstPlanMode(stores.storeExisted, opts.rebuild !== false, start.kind === 'members');
  const faults: Faults = { vnodeCrashes: 0, coordinatorCrashes: 0, replicaReadRefusals: 0, replyEncodingFailures: 0 };
  const startedAtMs = Date.now();

  // noAsyncTraces: nats.js would otherwise build an Error (a stack capture) for every request.
  const connection = { ...natsConnectionOptions(opts.natsUrl, opts.natsAuth), maxReconnectAttempts: -1, reconnectTimeWait: 250, noAsyncTraces: true };
  const nc = await connectWithRetry({ ...connection, name: `dkv-${settings.cluster}-${id}` }, log, opts.natsUrl);
  // Heartbeats and their answers travel on a connection of their own (actors/health.ts).
  const liveness = await connectWithRetry({ ...connection, name: `dkv-${settings.cluster}-${id}-liveness` }, log, opts.natsUrl);
  const wireLimits: WireLimits = { q: settings.q, keyBytesMax: settings.keyBytesMax, valueBytesMax: settings.valueBytesMax };
  const rejected = new WireRejections(log);
  // A promise nobody handled is a bug in dkv, not a reason to die: said where an operator looks.
  const onUnhandled = (reason: unknown) => logDecision(log, `dkv-${id}://process`, reason, 'resume', { unhandledRejection: true });
  process.on('unhandledRejection', onUnhandled);
  /**
   * Every subscription's callback runs inside nats.js's reader: a throw there would end the
   * reader, so whatever a handler throws is caught, logged as a supervision decision, and the
   * next message is taken.
   */
  const subscribe = (subject: string, opts: { queue?: string; callback: (err: Error | null, msg: Msg) => void }): Subscription =>
    nc.subscribe(subject, {
      ...opts,
      callback: (err, msg) => {
        try {
          opts.callback(err, msg);
        } catch (e) {
          logDecision(log, `dkv-${id}://node/nats/${subject}`, e, 'resume');
        }
      },
    });
  const outbox = new Outbox(nc, subjects.inbox(id), () => ({ from: id, rv: ringVersion }), wireLimits, (reason) => rejected.note('replica-reply', reason), (err) =>
    logDecision(log, `dkv-${id}://node/outbox`, err, 'resume'),
  );
  const health = new Health(id, [], log);
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

  const admitted = admission(opts.clientOpsMax);
  // Background work (transfers, anti-entropy, hint deliveries) runs at the share of its rate the
  // foreground leaves it (src/backgroundControl.ts).
  const foreground = startForeground({ admission: admitted, log, ...(opts.foregroundTargetMs !== undefined ? { targetMs: opts.foregroundTargetMs } : {}) });
  const vnodes = new Map<number, any>();
  const vnodeMail = new VnodeMail();
  const onVnodeCrash = vnodePolicy(log);
  /**
   * A read of a partition still being received: the local copy merged with a former replica's,
   * so that a key written before the transfer is never reported missing by its new replica.
   */
  const readThrough = (p: number, key: string, local: StoredClock | null, reply: (r: ReplicaResult) => void): boolean => {
    const h = partitions.receiving.get(p);
    if (h === undefined) return false;
    const source = h.sources.find((s) => s !== id && health.isUp(s));
    if (source === undefined) return false;
    // `own`: a source still receiving the partition itself (both rebuilding) answers from its copy
    // instead of reading through in turn, so two receivers never pass a read back and forth.
    outbox.call(subjects.replica(source), { op: 'read', p, k: key, own: true }, Date.now() + REPLICA_READ_THROUGH_MS, (r) => {
      if (!r.ok || r.clock === null) return reply({ ok: true, clock: local });
      reply({ ok: true, clock: local === null ? r.clock : mergeReplica(local, r.clock) });
    });
    return true;
  };
  /**
   * A replica read, answered in the caller's turn instead of a place in the vnode's mailbox:
   * storage.get already sees every write a vnode has staged, and a read changes nothing, so it
   * needs no ordering with the writes queued behind it (those are concurrent with it anyway).
   * Returns false when this node holds no replica of the partition.
   */
  const readReplica = (p: number, key: string, reply: (r: ReplicaResult) => void, digest?: unknown, own = false): boolean => {
    if (!vnodes.has(p)) return false;
    const local = storage.get(p, key) ?? null;
    if (!own && readThrough(p, key, local, reply)) return true;
    reply(digest !== undefined && sameDigest(readDigest(key, local), digest) ? { ok: true, clock: null, same: true } : { ok: true, clock: local });
    return true;
  };
  /** This node's copy, when it holds the partition and is not still receiving it; else undefined. */
  const localCopy = (p: number, key: string): StoredClock | null | undefined => (vnodes.has(p) && !partitions.receiving.has(p) ? (storage.get(p, key) ?? null) : undefined);
  const trees = new Map<number, TreeHolder>();
  /** One version set must fit a replica batch by itself, with room for its key. */
  const versionSetBytesMax = () => outbox.batchBytesMax - 8 * 1024;
  const ensureVnode = (p: number) => {
    if (vnodes.has(p)) return;
    const tree: TreeHolder = { tree: new MerkleTree(), ready: false };
    trees.set(p, tree);
    vnodes.set(p, spawnVnode(supervisor, p, { nodeId: actorId, storage, faults, log, now: Date.now, onCrash: onVnodeCrash, readReplica, tree, versionSetBytesMax }));
  };

  const handoff = spawnHandoff(supervisor, {
    nodeId: id,
    versionSetBytesMax,
    standIn,
    store: hintStore,
    q: settings.q,
    hintsMax: opts.hintsMax ?? HINTS_MAX,
    ...(opts.hintBytesMax !== undefined ? { hintBytesMax: opts.hintBytesMax } : {}),
    health,
    outbox,
    replicaSubject: (node) => subjects.replica(node),
    allowance: foreground.allowance,
    deliverTo: (p, owner) => {
      const replicas = ring ? ring.replicas(p, settings.n) : [owner];
      return replicas.includes(owner) ? [owner] : [...replicas];
    },
    log,
  });
  const heartbeat = spawnHeartbeat(supervisor, { nc: liveness, subjects, health, log });

  const transfer = spawnTransfer(supervisor, {
    nodeId: id,
    wireLimits,
    nc,
    subjects,
    log,
    n: settings.n,
    storage,
    ...(opts.transferKeysPerSecond !== undefined ? { keysPerSecond: opts.transferKeysPerSecond } : {}),
    ...(opts.transferPageKeys !== undefined ? { pageKeys: opts.transferPageKeys } : {}),
    table: () => partitions.table,
    setTable: (t) => partitions.set(t),
    ring: () => ring,
    ringVersion: () => ringVersion,
    isUp: (node) => health.isUp(node),
    vnode: (p) => vnodes.get(p),
    allowance: foreground.allowance,
    dropVnode: (p) => {
      const ref = vnodes.get(p);
      vnodes.delete(p);
      trees.delete(p);
      if (ref) {
        retireVnode(ref);
        nact.stop(ref);
      }
    },
  });

  const antiEntropy = spawnAntiEntropy(supervisor, {
    nodeId: id,
    wireLimits,
    nc,
    subjects,
    outbox,
    log,
    n: settings.n,
    storage,
    ...(opts.aeIntervalMs !== undefined ? { intervalMs: opts.aeIntervalMs } : {}),
    ...(opts.aeKeysPerSecond !== undefined ? { keysPerSecond: opts.aeKeysPerSecond } : {}),
    ...(opts.tombstoneGraceMs !== undefined ? { tombstoneGraceMs: opts.tombstoneGraceMs } : {}),
    table: () => partitions.table,
    ring: () => ring,
    isUp: (node) => health.isUp(node),
    vnode: (p) => vnodes.get(p),
    tree: (p) => trees.get(p),
    allowance: foreground.allowance,
  });

  /** A new view: the ring, the peers to watch, and the partitions to receive or give away. */
  const onView = (next: View) => {
    members = next.members.filter((m) => m.status !== 'removed').map((m) => m.node);
    const previous = ring;
    if (ring === undefined || ringVersion !== next.ring.version || ring.assignment.join() !== next.ring.assignment.join()) {
      ring = new Ring(next.ring.assignment);
    }
    ringVersion = next.ring.version;
    health.setPeers(members);
    const current = ring;
    const replicas = next.ring.nodes.includes(id) ? current.replicaPartitions(id, settings.n) : [];
    const table = partitions.table;
    const planned = plan(
      table,
      replicas,
      (p) => pullSources(previous, current, p, settings.n, id),
      (p) => current.preferenceList(p).filter((x) => x !== id),
      firstPlan,
    );
    if (firstPlan === 'rebuild' && planned.receive.length > 0) {
      log.info(
        { event: 'store-rebuild', partitions: planned.receive.length, heldBefore: table.length },
        `new store where the ring places ${planned.receive.length} partitions here: pulling them from the other replicas (a brand-new cluster settles at once)`,
      );
    }
    firstPlan = 'follow';
    partitions.set(planned.table);
    for (const h of partitions.table) ensureVnode(h.partition);
    if (planned.receive.length > 0 || planned.give.length > 0) {
      log.info({ event: 'partitions-planned', ringVersion, receive: planned.receive, give: planned.give }, `ring ${ringVersion}: receiving ${planned.receive.length} partitions, giving ${planned.give.length}`);
    }
    if (ready) serveClients();
  };

  let ready = false;
  const membership = spawnMembership(supervisor, {
    nodeId: id,
    nc,
    subjects,
    log,
    dataDir: opts.dataDir,
    q: settings.q,
    n: settings.n,
    start,
    ...(opts.gossipIntervalMs !== undefined ? { gossipIntervalMs: opts.gossipIntervalMs } : {}),
    isUp: (node) => health.isUp(node),
    ownChanges: (v) => ownChanges(v, id, partitions.table, handoff.figures.hints),
    onView,
    onExited: () => (opts.onLeft ?? (() => {}))(),
  });

  const selfStatus = () => {
    const v = membership.view();
    return v ? memberOf(v, id)?.status : undefined;
  };

  /** `dkv join` / `dkv leave` (actors/admin.ts). */
  /** Resolves when `node` answers its ping: a node to be let in must exist (join requests, `dkv join`). */
  const ping = (node: string) => nc.request(subjects.ping(node), new Uint8Array(0), { timeout: ADMIN_PING_TIMEOUT_MS });
  const admin = adminHandler({ n: settings.n, ping, membership });

  const status = async (): Promise<object> => {
    const v = membership.view();
    const current = ring;
    if (!v || !current) throw new DkvError('unavailable', `${id} is not in a cluster yet`);
    return clusterStatus(settings, id, v, current, await gatherFigures(nc, subjects, members, STATS_TIMEOUT_MS));
  };

  const counters: CoordinatorCounters = { gets: 0, writes: 0, forwardedWrites: 0, sloppy: 0, retries: 0, failures: 0, readRepairs: 0, sameReads: 0, batches: 0, batchedOps: 0, fastReads: 0, fastReadHandovers: 0 };
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
    ring: () => ring!,
    vnode: (p) => vnodes.get(p),
    readReplica,
    localCopy,
    vnodeMail,
    faults,
    status,
    ringInfo: () => ({ version: ringVersion, n: settings.n, assignment: ring!.assignment }),
    admin,
    rejected,
    admission: admitted,
    foreground,
  });

  const subs: Subscription[] = [];
  let expiredRequests = 0;
  const client = (subject: string, kind: ClientKind, queue: boolean) => {
    subs.push(
      subscribe(subject, {
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
  // Client subjects only once this node is in a cluster: a node waiting to be joined has no ring
  // to coordinate with, and a queue member that only answers "unavailable" would fail requests.
  let serving = false;
  const serveClients = () => {
    if (serving || ring === undefined) return;
    serving = true;
    client(subjects.get, 'get', true);
    client(subjects.put, 'put', true);
    client(subjects.delete, 'delete', true);
    client(subjects.batch, 'batch', true);
    client(subjects.nodeBatch(id), 'batch', false);
    client(subjects.ring, 'ring', true);
    client(subjects.status, 'status', true);
    client(subjects.adminJoin, 'join', true);
    client(subjects.adminLeave, 'leave', true);
    client(subjects.peek(id), 'peek', false);
    subs.push(
      subscribe(subjects.coordinate(id), {
        callback: (err, msg) => {
          if (!err) gateway.handle({ type: 'forwarded', msg });
        },
      }),
    );
  };

  subs.push(
    subscribe(subjects.membership(id), {
      callback: (err, msg) => {
        if (err) return;
        const respond = (body: object) => outbox.respond(msg, encodeInternal(body));
        try {
          const body = decodeInternal<{ type?: unknown; view?: unknown; node?: unknown }>(msg.data);
          if (body?.type === 'gossip') return membership.incoming({ type: 'gossip', view: body.view }, respond);
          if (body?.type === 'join' && typeof body.node === 'string') {
            const node = body.node;
            if (!isValidName(node)) return respond(errorReply(new DkvError('bad_request', 'a join request names a node (A-Z a-z 0-9 _ -)')));
            // Anyone on the account can publish here: a node that does not answer is not let in.
            void ping(node).then(
              () => membership.incoming({ type: 'join', node }, respond),
              (err) => respond(errorReply(new DkvError('bad_request', `node ${node} does not answer (${(err as Error).message}); it is not let in`))),
            );
            return;
          }
          respond(errorReply(new DkvError('bad_request', 'membership message must be {type: "gossip", view} or {type: "join", node}')));
        } catch (e) {
          respond(errorReply(new DkvError('bad_request', `undecodable membership message: ${(e as Error).message}`)));
        }
      },
    }),
  );

  /**
   * A node-to-node request subject whose requests are checked (`check` throws on a malformed one)
   * and answered by an actor's `serve`; a malformed request gets an error reply, never an actor.
   */
  const serveInternal = <T>(subject: string, what: string, parse: (data: Uint8Array, limits: WireLimits) => T, serve: (req: T) => Promise<object>) => {
    // Each request reads storage (a page, a list of keys): a bound on those served at once, so
    // that a stranger's flood of them is refused instead of piling up reads.
    let inProgress = 0;
    subs.push(
      subscribe(subject, {
        callback: (err, msg) => {
          if (err) return;
          const respond = (body: object) => outbox.respond(msg, encodeInternal(body));
          if (inProgress >= INTERNAL_REQUESTS_IN_PROGRESS_MAX) return respond({ error: `overloaded: ${id} is serving ${inProgress} ${what} requests, at most ${INTERNAL_REQUESTS_IN_PROGRESS_MAX}` });
          let req: T;
          try {
            req = parse(msg.data, wireLimits);
          } catch (e) {
            rejected.note(what, (e as Error).message);
            return respond({ error: `malformed ${what} request: ${(e as Error).message}` });
          }
          inProgress++;
          serve(req)
            .then(respond, (e) => respond({ error: (e as Error).message }))
            .finally(() => inProgress--);
        },
      }),
    );
  };
  serveInternal<AeRequest>(subjects.antiEntropy(id), 'anti-entropy', parseAeRequest, (req) => antiEntropy.serve(req));
  serveInternal<TransferRequest>(subjects.transfer(id), 'transfer', parseTransferRequest, (req) => transfer.serve(req));

  const replicas = serveReplicas({
    id,
    n: settings.n,
    subject: subjects.replica(id),
    replicaSubject: (node) => subjects.replica(node),
    subscribe,
    outbox,
    wireLimits,
    rejected,
    vnodes,
    vnodeMail,
    ring: () => ring,
    ringVersion: () => ringVersion,
    members: () => members,
    health,
    handoff: handoff.ref,
    faults,
    readReplica,
    log,
    opsMax: opts.replicaOpsMax ?? REPLICA_OPS_IN_PROGRESS_MAX,
  });
  subs.push(replicas.subscription);

  // Answered at once on the liveness connection, not queued behind the turn's replies.
  subs.push(liveness.subscribe(subjects.ping(id), { callback: (err, msg) => void (!err && msg.reply && msg.respond(new Uint8Array(0))) }));

  subs.push(
    subscribe(subjects.stats(id), {
      callback: (err, msg) => {
        if (err) return;
        msg.respond(
          encodeInternal({
            node: id,
            uptimeMs: Date.now() - startedAtMs,
            replicaPartitions: partitions.table.filter((h) => h.state !== 'giving').length,
            storage: storage.kind,
            ...(storage.kind === 'lmdb' ? { sync } : {}),
            ...(periodicStore ? { syncs: periodicStore.syncs } : {}),
            backlog: { ...handoff.figures },
            view: health.view(),
            nats: { ...natsFigures, ...nc.stats() },
            requests: { ...counters, expired: expiredRequests },
            admission: { ...admitted, ...replicas.figures() },
            background: foreground.figures(),
            outbox: outbox.stats,
            membership: { ...membership.figures, status: selfStatus() },
            transfer: transfer.figures,
            antiEntropy: antiEntropy.figures,
            actorId,
            wireRejected: rejected.counts,
            transfers: partitions.table.filter((h) => h.state !== 'complete').map((h) => ({ partition: h.partition, state: h.state, moved: h.moved, source: h.sources[0], ...(h.rebuild ? { rebuild: true } : {}) })),
          }),
        );
      },
    }),
  );

  // Test-only: never on by default (actors/testFaults.ts).
  if (opts.faultsEnabled) subs.push(subscribeTestFaults({ subscribe, subject: subjects.fault(id), faults, periodicStore, log }));

  ready = true;
  serveClients();
  const resumed = partitions.table.filter((h) => h.state === 'receiving' && h.cursor !== null);
  if (resumed.length > 0) {
    log.info({ event: 'transfers-resumed', partitions: resumed.map((h) => ({ partition: h.partition, after: h.moved })) }, `resuming ${resumed.length} partition transfers from their cursors`);
  }
  await nc.flush();
  log.info(
    { event: 'node-started', nats: opts.natsUrl, start, ringVersion, members, replicaPartitions: vnodes.size, storage: storage.kind, ...(storage.kind === 'lmdb' ? { sync } : {}), settings },
    ring ? `node ${id} serving` : start.kind === 'join' ? `node ${id} asking ${start.seed} to join` : `node ${id} waiting to be joined (dkv join ${id})`,
  );

  let stopped: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    stopped ??= (async () => {
      process.off('unhandledRejection', onUnhandled);
      for (const s of subs) s.unsubscribe();
      heartbeat.stop();
      foreground.stop();
      membership.stop();
      transfer.stop();
      antiEntropy.stop();
      handoff.stop();
      outbox.close();
      try {
        await nc.drain();
      } catch {
        // Already closed: nothing to drain.
      }
      await liveness.close().catch(() => {});
      await stores.close();
      nact.stop(system);
      log.info({ event: 'node-stopped', requests: counters, outbox: outbox.stats }, `node ${id} stopped`);
    })();
    return stopped;
  }

  return { id, nc, stop: shutdown };
}
