/**
 * The node supervisor's children, as one table: which exist, of what kind, how each is
 * supervised, and what each is given. actors/node.ts walks it in order; a child may use only
 * those above it (the vnodes' registry comes first, the gateway last, since it reaches them all).
 * The policies are applied in each actor's own file (actors/supervision.ts helpers); the words
 * here are what docs/operations.md's table says, for a reader of the code.
 */
import type { Clock } from './clock.ts';
import type { Transport, TransportMsg } from './transport.ts';
import type { Logger } from 'pino';
import type { Admission } from '../src/admission.ts';
import type { ClusterSettings } from '../src/config.ts';
import { HINTS_MAX } from '../src/hints.ts';
import type { PlanMode } from '../src/partitionTable.ts';
import type { Subjects } from '../src/subjects.ts';
import type { WireLimits } from '../src/wire.ts';
import { adminHandler } from './admin.ts';
import { spawnAntiEntropy, type AntiEntropy } from './antiEntropy.ts';
import type { CoordinatorCounters } from './coordinatorCounters.ts';
import type { Foreground } from './foreground.ts';
import type { RequestMetrics } from './metrics.ts';
import { spawnGateway, type Gateway } from './gateway.ts';
import { spawnHandoff } from './handoff.ts';
import { spawnHeartbeat, type Health } from './health.ts';
import { localReplicas, type LocalReplicas } from './localReplica.ts';
import { spawnMembership, type Membership } from './membership.ts';
import type { View } from '../src/membership.ts';
import type { NodeOptions } from './nodeOptions.ts';
import type { Outbox } from './outbox.ts';
import { clusterStatusReply } from './status.ts';
import type { NodeStores, PartitionTableFile } from './store.ts';
import { spawnTransfer, type Transfer } from './transfer.ts';
import { viewChanges, type NodeRing } from './viewChanges.ts';
import { vnodePolicy, type Faults } from './vnode.ts';
import type { WireRejections } from './wireRejections.ts';

/** What the node made before its children, and hands them. */
export interface NodeParts {
  readonly opts: NodeOptions;
  readonly id: string;
  readonly settings: ClusterSettings;
  readonly log: Logger;
  readonly subjects: Subjects;
  readonly nc: Transport;
  /** Heartbeats travel on a connection of their own (actors/health.ts). */
  readonly liveness: Transport;
  readonly clock: Clock;
  /** Uniform in [0, 1). */
  random(): number;
  readonly wireLimits: WireLimits;
  readonly supervisor: any;
  readonly stores: NodeStores;
  readonly partitions: PartitionTableFile;
  /** The membership view the start read from disk (undefined: none): the membership actor's first state. */
  readonly persistedView: View | undefined;
  readonly placement: NodeRing;
  readonly firstPlan: PlanMode;
  readonly outbox: Outbox;
  readonly health: Health;
  readonly rejected: WireRejections;
  readonly faults: Faults;
  readonly counters: CoordinatorCounters;
  readonly admitted: Admission;
  readonly foreground: Foreground;
  /** The node's metrics on the request path (actors/metrics.ts). */
  readonly metrics: RequestMetrics;
  /** Resolves when `node` answers its ping: a node to be let in must exist (join requests, `dkv join`). */
  ping(node: string): Promise<TransportMsg>;
  /** Called after every view (actors/viewChanges.ts). */
  onRing(): void;
}

export interface Children {
  vnodes: LocalReplicas;
  handoff: ReturnType<typeof spawnHandoff>;
  heartbeat: ReturnType<typeof spawnHeartbeat>;
  transfer: Transfer;
  antiEntropy: AntiEntropy;
  membership: Membership;
  gateway: Gateway;
}

type ChildKind = 'nact actor' | 'nact actors, one per partition held' | 'an actor of its own kind, no mailbox';

export type ChildSpec = {
  [K in keyof Children]: { readonly name: K; readonly kind: ChildKind; readonly policy: string; spawn(x: NodeParts, spawned: Spawned): Children[K] };
}[keyof Children];

/** The children spawned so far; asking for one not spawned yet is a mistake in CHILDREN's order. */
export class Spawned {
  readonly #got: Partial<Children> = {};

  get<K extends keyof Children>(name: K): Children[K] {
    const child = this.#got[name];
    if (child === undefined) throw new Error(`child ${name} is used before it is spawned: see the order of CHILDREN`);
    return child as Children[K];
  }

  spawn(spec: ChildSpec, parts: NodeParts): void {
    (this.#got as Record<string, unknown>)[spec.name] = spec.spawn(parts, this);
  }

  all(): Children {
    for (const c of CHILDREN) this.get(c.name);
    return this.#got as Children;
  }
}

const RESET = 'reset; past 10 crashes in 10 s, escalate';

/** What the two background actors that move a partition's keys (transfer, anti-entropy) share. */
function replicaWork(x: NodeParts, vnodes: LocalReplicas) {
  return {
    nodeId: x.id,
    clock: x.clock,
    wireLimits: x.wireLimits,
    nc: x.nc,
    subjects: x.subjects,
    log: x.log,
    n: x.settings.n,
    storage: x.stores.storage,
    table: () => x.partitions.table,
    ring: () => x.placement.ring,
    isUp: (node: string) => x.health.isUp(node),
    vnode: (p: number) => vnodes.vnodes.get(p),
    allowance: x.foreground.allowance,
  };
}

export const CHILDREN: readonly ChildSpec[] = [
  {
    name: 'vnodes',
    kind: 'nact actors, one per partition held',
    policy: `${RESET} (counted across all vnodes); the lost request is answered as a failed replica`,
    // None at first: the membership child's first view spawns them (actors/viewChanges.ts).
    spawn: (x) =>
      localReplicas({ id: x.id, clock: x.clock, actorId: x.stores.actorId, parent: x.supervisor, storage: x.stores.storage, faults: x.faults, log: x.log, onCrash: vnodePolicy(x.log, () => x.clock.now()), outbox: x.outbox, health: x.health, replicaSubject: (node) => x.subjects.replica(node), receiving: () => x.partitions.receiving }),
  },
  {
    name: 'handoff',
    kind: 'nact actor',
    policy: `${RESET}; the lost request is answered as a failed replica`,
    spawn: (x, spawned) =>
      spawnHandoff(x.supervisor, {
        nodeId: x.id,
        clock: x.clock,
        versionSetBytesMax: spawned.get('vnodes').versionSetBytesMax,
        standIn: x.stores.standIn,
        store: x.stores.hintStore,
        q: x.settings.q,
        hintsMax: x.opts.hintsMax ?? HINTS_MAX,
        ...(x.opts.hintBytesMax !== undefined ? { hintBytesMax: x.opts.hintBytesMax } : {}),
        health: x.health,
        outbox: x.outbox,
        replicaSubject: (node) => x.subjects.replica(node),
        allowance: x.foreground.allowance,
        deliverTo: (p, owner) => {
          const replicas = x.placement.ring ? x.placement.ring.replicas(p, x.settings.n) : [owner];
          return replicas.includes(owner) ? [owner] : [...replicas];
        },
        log: x.log,
      }),
  },
  { name: 'heartbeat', kind: 'nact actor', policy: RESET, spawn: (x) => spawnHeartbeat(x.supervisor, { nc: x.liveness, subjects: x.subjects, health: x.health, log: x.log, clock: x.clock }) },
  {
    name: 'transfer',
    kind: 'nact actor',
    policy: RESET,
    spawn: (x, spawned) => {
      const vnodes = spawned.get('vnodes');
      return spawnTransfer(x.supervisor, {
        ...replicaWork(x, vnodes),
        ...(x.opts.transferKeysPerSecond !== undefined ? { keysPerSecond: x.opts.transferKeysPerSecond } : {}),
        ...(x.opts.transferPageKeys !== undefined ? { pageKeys: x.opts.transferPageKeys } : {}),
        setTable: (t) => x.partitions.set(t),
        ringVersion: () => x.placement.version,
        dropVnode: vnodes.dropVnode,
      });
    },
  },
  {
    name: 'antiEntropy',
    kind: 'nact actor',
    policy: RESET,
    spawn: (x, spawned) => {
      const vnodes = spawned.get('vnodes');
      return spawnAntiEntropy(x.supervisor, {
        ...replicaWork(x, vnodes),
        outbox: x.outbox,
        ...(x.opts.aeIntervalMs !== undefined ? { intervalMs: x.opts.aeIntervalMs } : {}),
        ...(x.opts.aeKeysPerSecond !== undefined ? { keysPerSecond: x.opts.aeKeysPerSecond } : {}),
        ...(x.opts.tombstoneGraceMs !== undefined ? { tombstoneGraceMs: x.opts.tombstoneGraceMs } : {}),
        tree: vnodes.tree,
      });
    },
  },
  {
    name: 'membership',
    kind: 'nact actor',
    policy: `${RESET}; its state is reloaded from the persisted view, the lost request is answered internal`,
    spawn: (x, spawned) => {
      const handoff = spawned.get('handoff');
      // Its first view (persisted, or the static member list) is applied while it spawns.
      const view = viewChanges({ id: x.id, n: x.settings.n, log: x.log, placement: x.placement, partitions: x.partitions, firstPlan: x.firstPlan, health: x.health, ensureVnode: spawned.get('vnodes').ensureVnode, hintsHeld: () => handoff.figures.hints, onRing: x.onRing });
      return spawnMembership(x.supervisor, {
        nodeId: x.id,
        clock: x.clock,
        random: x.random,
        nc: x.nc,
        subjects: x.subjects,
        log: x.log,
        dataDir: x.opts.dataDir,
        persistedView: x.persistedView,
        q: x.settings.q,
        n: x.settings.n,
        start: x.opts.start,
        ...(x.opts.gossipIntervalMs !== undefined ? { gossipIntervalMs: x.opts.gossipIntervalMs } : {}),
        isUp: (node) => x.health.isUp(node),
        ownChanges: view.ownChanges,
        onView: view.onView,
        onExited: () => (x.opts.onLeft ?? (() => {}))(),
      });
    },
  },
  {
    name: 'gateway',
    kind: 'an actor of its own kind, no mailbox',
    policy: 'resume; the message that crashed it is answered internal',
    spawn: (x, spawned) => {
      const vnodes = spawned.get('vnodes');
      const membership = spawned.get('membership');
      const { id, settings, placement } = x;
      return spawnGateway(x.supervisor, {
        clock: x.clock,
        health: x.health,
        handoff: spawned.get('handoff').ref,
        counters: x.counters,
        outbox: x.outbox,
        nodeId: id,
        settings,
        nc: x.nc,
        subjects: x.subjects,
        log: x.log,
        ring: () => placement.ring!,
        vnode: (p) => vnodes.vnodes.get(p),
        readReplica: vnodes.readReplica,
        localCopy: vnodes.localCopy,
        vnodeMail: vnodes.mail,
        faults: x.faults,
        durableOne: x.stores.sync === 'one' && x.stores.storage.kind === 'lmdb',
        status: clusterStatusReply({ id, settings, nc: x.nc, subjects: x.subjects, placement, membership }),
        ringInfo: () => ({ version: placement.version, n: settings.n, assignment: placement.ring!.assignment }),
        admin: adminHandler({ n: settings.n, ping: x.ping, membership }),
        rejected: x.rejected,
        admission: x.admitted,
        foreground: x.foreground,
        metrics: x.metrics,
      });
    },
  },
];
