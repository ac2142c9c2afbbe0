/**
 * node supervisor: one per process, and the composition root. It makes what the node's parts
 * share (the NATS connections, the stores, the outbox, the failure detector), spawns the
 * children listed in actors/children.ts, subscribes the subjects and knows how to stop it all;
 * each part lives in a file of its own.
 *
 * Policy for escalations from its children: a child that keeps crashing past its restart
 * intensity means this process cannot heal itself, so it logs the decision and exits non-zero
 * for the process manager (or `dkv dev`) to restart it.
 */
import nact from 'nact';
import { natsEnvironment, type NodeEnvironment } from './environment.ts';
import { admission, REPLICA_OPS_IN_PROGRESS_MAX } from '../src/admission.ts';
import { subjectsFor } from '../src/subjects.ts';
import type { WireLimits } from '../src/wire.ts';
import { firstPlanMode } from '../src/viewRules.ts';
import { CHILDREN, Spawned, type NodeParts } from './children.ts';
import type { CoordinatorCounters } from './coordinatorCounters.ts';
import { startForeground } from './foreground.ts';
import { Health } from './health.ts';
import { createLogger } from './log.ts';
import { nodeMetrics, serveMetricsHttp, serveMetricsSubject, type MetricsHttp } from './metrics.ts';
import { serveMicroService } from './microService.ts';
import { checkStart, type NodeHandle, type NodeOptions } from './nodeOptions.ts';
import { Outbox } from './outbox.ts';
import { serveReplicas } from './replicaServer.ts';
import { clientSubjects, type ClientSubjects } from './serveClients.ts';
import { serveInternal } from './serveInternal.ts';
import { ownFigures } from './status.ts';
import { loadStateFiles } from './store.ts';
import { Subscriptions } from './subscriptions.ts';
import { keepDecisions, logDecision, RecentDecisions } from './supervision.ts';
import { subscribeTestFaults } from './testFaults.ts';
import { noRingYet } from './viewChanges.ts';
import type { Faults } from './vnode.ts';
import { WireRejections } from './wireRejections.ts';
import { keyListing } from './keyListing.ts';
import { keyScan, serveKeyScan } from './keyScan.ts';

export type { NodeHandle, NodeOptions } from './nodeOptions.ts';
export type { NodeEnvironment } from './environment.ts';

const ADMIN_PING_TIMEOUT_MS = 1000;

/** A node on NATS, the system clock and its data directory: what `dkv node` runs. */
export async function startNode(opts: NodeOptions): Promise<NodeHandle> {
  checkStart(opts.id, opts.start, opts.settings);
  const log = opts.logger ?? createLogger({ node: opts.id, cluster: opts.settings.cluster });
  return composeNode({ ...opts, logger: log }, await natsEnvironment(opts, log));
}

/** The node itself, on whatever environment it is given. */
export async function composeNode(opts: NodeOptions, env: NodeEnvironment): Promise<NodeHandle> {
  const { id, settings, start } = opts;
  checkStart(id, start, settings);
  const { nc, liveness, clock } = env;
  const log = opts.logger ?? createLogger({ node: id, cluster: settings.cluster });
  const subjects = subjectsFor(settings.cluster);
  const placement = noRingYet();
  const { partitions, view: persistedView } = env.stateFiles ?? loadStateFiles(log, opts.dataDir, settings.q);
  const stores = env.openStores(opts, log);
  const firstPlan = firstPlanMode(stores.storeExisted, opts.rebuild !== false, start.kind === 'members');
  const faults: Faults = { vnodeCrashes: 0, coordinatorCrashes: 0, replicaReadRefusals: 0, replyEncodingFailures: 0 };
  const startedAtMs = clock.now();
  const wireLimits: WireLimits = { q: settings.q, keyBytesMax: settings.keyBytesMax, valueBytesMax: settings.valueBytesMax };
  const rejected = new WireRejections(log);
  const decisions = new RecentDecisions(() => clock.now());
  keepDecisions(log, decisions);
  // A promise nobody handled is a bug in dkv, not a reason to die: said where an operator looks.
  const onUnhandled = (reason: unknown) => logDecision(log, `dkv-${id}://process`, reason, 'resume', { unhandledRejection: true });
  process.on('unhandledRejection', onUnhandled);
  const subscriptions = new Subscriptions(nc, log, id);
  const outbox = new Outbox(nc, subjects.inbox(id), () => ({ from: id, rv: placement.version }), wireLimits, (reason) => rejected.note('replica-reply', reason), (err) =>
    logDecision(log, `dkv-${id}://node/outbox`, err, 'resume'), clock,
  );
  const health = new Health(id, [], log, clock);
  const natsFigures = env.natsFigures;

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
  const foreground = startForeground({ admission: admitted, log, clock, eventLoop: env.eventLoop, ...(opts.foregroundTargetMs !== undefined ? { targetMs: opts.foregroundTargetMs } : {}) });
  const counters: CoordinatorCounters = { gets: 0, writes: 0, forwardedWrites: 0, sloppy: 0, retries: 0, failures: 0, readRepairs: 0, sameReads: 0, batches: 0, batchedOps: 0, fastReads: 0, fastReadHandovers: 0, siblingReads: 0 };
  const metrics = nodeMetrics(log);
  const ping = (node: string) => nc.request(subjects.ping(node), new Uint8Array(0), { timeout: ADMIN_PING_TIMEOUT_MS });
  // Set once every subject is subscribed: a view before then waits for the end of the start.
  let clients: ClientSubjects | undefined;

  const parts: NodeParts = {
    opts,
    id,
    settings,
    log,
    subjects,
    nc,
    liveness,
    clock,
    random: env.random,
    wireLimits,
    supervisor,
    stores,
    partitions,
    persistedView,
    placement,
    firstPlan,
    outbox,
    health,
    rejected,
    faults,
    counters,
    admitted,
    foreground,
    metrics: metrics.requests,
    ping,
    onRing: () => clients?.serve(),
  };
  const spawned = new Spawned();
  for (const child of CHILDREN) spawned.spawn(child, parts);
  const { vnodes, handoff, heartbeat, transfer, antiEntropy, membership, gateway } = spawned.all();

  const replicas = serveReplicas({
    id,
    clock,
    n: settings.n,
    subject: subjects.replica(id),
    replicaSubject: (node) => subjects.replica(node),
    subscribe: subscriptions.subscribe,
    outbox,
    wireLimits,
    rejected,
    vnodes: vnodes.vnodes,
    vnodeMail: vnodes.mail,
    ring: () => placement.ring,
    ringVersion: () => placement.version,
    members: () => placement.members,
    health,
    handoff: handoff.ref,
    faults,
    readReplica: vnodes.readReplica,
    log,
    opsMax: opts.replicaOpsMax ?? REPLICA_OPS_IN_PROGRESS_MAX,
  });
  const scanner = keyScan({ id, storage: stores.storage, table: () => partitions.table, now: () => clock.now() });
  serveKeyScan({ id, subjects, subscribe: subscriptions.subscribe, outbox, wireLimits, rejected, scanner });
  const listing = keyListing({ id, n: settings.n, clock, limits: { n: settings.n, keyBytesMax: settings.keyBytesMax, valueBytesMax: settings.valueBytesMax }, wireLimits, subjects, nc, outbox, scanner, log, ring: () => placement.ring, isUp: (node) => health.isUp(node) });
  const served = clientSubjects({ id, clock, subjects, subscribe: subscriptions.subscribe, gateway, log, hasRing: () => placement.ring !== undefined, keys: listing });
  const figures = ownFigures({
    id,
    clock,
    startedAtMs,
    partitions,
    stores,
    handoff,
    health,
    natsFigures,
    natsStats: env.natsStats,
    counters,
    expiredRequests: served.expired,
    admitted,
    replicaFigures: replicas.figures,
    foreground,
    outbox,
    membership,
    transfer,
    antiEntropy,
    rejected,
    decisions,
    keyListing: () => ({ ...listing.figures, ...scanner.figures }),
  });
  serveInternal({ id, subjects, subscriptions, liveness, outbox, wireLimits, rejected, membership, transfer, antiEntropy, ping, figures });
  // Discoverable with `nats micro ls` (docs/operations.md "Service discovery").
  serveMicroService({ id, cluster: settings.cluster, startedAtMs, subscribe: subscriptions.subscribe, endpoints: served.endpoints });
  metrics.observe({ counters, handoff, partitions, transfer, antiEntropy, health, natsFigures, foreground, storage: stores.storage, admitted, replicaFigures: replicas.figures, keyListing: () => ({ ...listing.figures, ...scanner.figures }) });
  serveMetricsSubject(subscriptions.subscribe, subjects.metrics(id), metrics, log);

  // Test-only: never on by default (actors/testFaults.ts).
  if (opts.faultsEnabled) subscribeTestFaults({ subscribe: subscriptions.subscribe, subject: subjects.fault(id), faults, periodicStore: stores.periodicStore, log });

  clients = served;
  clients.serve();
  const resumed = partitions.table.filter((h) => h.state === 'receiving' && h.cursor !== null);
  if (resumed.length > 0) {
    log.info({ event: 'transfers-resumed', partitions: resumed.map((h) => ({ partition: h.partition, after: h.moved })) }, `resuming ${resumed.length} partition transfers from their cursors`);
  }
  await nc.flush();
  let metricsHttp: MetricsHttp | undefined;
  if (opts.metricsPort !== undefined) {
    const host = opts.metricsHost ?? '127.0.0.1';
    try {
      metricsHttp = await serveMetricsHttp(host, opts.metricsPort, metrics, log);
    } catch (err) {
      await shutdown();
      throw new Error(`cannot serve metrics on ${host}:${opts.metricsPort}: ${(err as Error).message}`);
    }
  }
  const { storage, sync } = stores;
  log.info(
    { event: 'node-started', nats: opts.natsUrl, start, ringVersion: placement.version, members: placement.members, replicaPartitions: vnodes.vnodes.size, storage: storage.kind, ...(storage.kind === 'lmdb' ? { sync } : {}), settings },
    placement.ring ? `node ${id} serving` : start.kind === 'join' ? `node ${id} asking ${start.seed} to join` : `node ${id} waiting to be joined (dkv join ${id})`,
  );

  let stopped: Promise<void> | undefined;
  async function shutdown(): Promise<void> {
    stopped ??= (async () => {
      process.off('unhandledRejection', onUnhandled);
      subscriptions.close();
      await metricsHttp?.close();
      metrics.close();
      heartbeat.stop();
      foreground.stop();
      membership.stop();
      transfer.stop();
      antiEntropy.stop();
      handoff.stop();
      outbox.close();
      await env.close();
      await stores.close();
      nact.stop(system);
      log.info({ event: 'node-stopped', requests: counters, outbox: outbox.stats }, `node ${id} stopped`);
    })();
    return stopped;
  }

  return { id, nc, stop: shutdown };
}
