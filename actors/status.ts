/**
 * What a node says about itself and its cluster: its own figures (the `stats` subject, asked by
 * whichever node answers `status`), the cluster's `status` reply, and the NATS connection's
 * history that both report. Gathered here so that a figure added to a part of the node has one
 * place to be reported from.
 */
import type { Clock } from './clock.ts';
import type { Transport } from './transport.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import type { Admission } from '../src/admission.ts';
import { clusterStatus } from '../src/clusterStatus.ts';
import type { ClusterSettings } from '../src/config.ts';
import { DkvError } from '../src/errors.ts';
import { memberOf } from '../src/membership.ts';
import type { Subjects } from '../src/subjects.ts';
import type { AntiEntropy } from './antiEntropy.ts';
import type { CoordinatorCounters } from './coordinatorCounters.ts';
import { gatherFigures } from './figures.ts';
import type { Foreground } from './foreground.ts';
import type { HandoffFigures } from './handoff.ts';
import type { Health } from './health.ts';
import type { Membership } from './membership.ts';
import type { Outbox } from './outbox.ts';
import type { NodeStores, PartitionTableFile } from './store.ts';
import type { Transfer } from './transfer.ts';
import type { NodeRing } from './viewChanges.ts';
import type { RecentDecisions } from './supervision.ts';
import type { WireRejections } from './wireRejections.ts';

/** A member that does not report its figures within this long shows as unreachable in status. */
const STATS_TIMEOUT_MS = 500;

export interface NatsFigures {
  disconnects: number;
  reconnects: number;
  lastDisconnectAt: string | undefined;
  lastReconnectAt: string | undefined;
}

/** Counts the connection's losses for the figures, and says each where an operator looks. */
export function watchNats(nc: NatsConnection, log: Logger): NatsFigures {
  const figures: NatsFigures = { disconnects: 0, reconnects: 0, lastDisconnectAt: undefined, lastReconnectAt: undefined };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        figures.disconnects++;
        figures.lastDisconnectAt = new Date().toISOString();
        log.warn({ event: 'nats-disconnect', server: (s as any).server }, 'lost the NATS connection; reconnecting');
      } else if (s.type === 'reconnect') {
        figures.reconnects++;
        figures.lastReconnectAt = new Date().toISOString();
        log.info({ event: 'nats-reconnect', server: (s as any).server }, 'NATS connection back; subscriptions restored');
      }
    }
  })();
  return figures;
}

/** The `status` reply: every member's figures, joined by src/clusterStatus.ts. */
export function clusterStatusReply(deps: {
  readonly id: string;
  readonly settings: ClusterSettings;
  readonly nc: Transport;
  readonly subjects: Subjects;
  readonly placement: NodeRing;
  readonly membership: Pick<Membership, 'view'>;
}): () => Promise<object> {
  const { id, settings, nc, subjects, placement } = deps;
  return async () => {
    const v = deps.membership.view();
    const current = placement.ring;
    if (!v || !current) throw new DkvError('unavailable', `${id} is not in a cluster yet`);
    return clusterStatus(settings, id, v, current, await gatherFigures(nc, subjects, placement.members, STATS_TIMEOUT_MS));
  };
}

export interface OwnFiguresDeps {
  readonly clock: Clock;
  readonly id: string;
  readonly startedAtMs: number;
  readonly partitions: PartitionTableFile;
  readonly stores: NodeStores;
  readonly handoff: { readonly figures: HandoffFigures };
  readonly health: Health;
  readonly natsFigures: NatsFigures;
  /** The connection's own figures (NATS: reconnects, bytes in and out). */
  natsStats(): object;
  readonly counters: CoordinatorCounters;
  /** Client requests dropped because their client had given up on them (actors/serveClients.ts). */
  expiredRequests(): number;
  readonly admitted: Admission;
  replicaFigures(): object;
  readonly foreground: Foreground;
  readonly outbox: Outbox;
  readonly membership: Membership;
  readonly transfer: Transfer;
  readonly antiEntropy: AntiEntropy;
  readonly rejected: WireRejections;
  /** The node's latest supervision decisions (actors/supervision.ts). */
  readonly decisions: RecentDecisions;
  /** Key listings coordinated here and scans served (actors/keyListing.ts, actors/keyScan.ts). */
  keyListing?(): object;
}

/** This node's figures, as its `stats` subject answers them. */
export function ownFigures(deps: OwnFiguresDeps): () => object {
  const { id, stores, partitions, membership } = deps;
  const { storage, sync, periodicStore } = stores;
  return () => {
    const table = partitions.table;
    const v = membership.view();
    return {
      node: id,
      uptimeMs: deps.clock.now() - deps.startedAtMs,
      replicaPartitions: table.filter((h) => h.state !== 'giving').length,
      storage: storage.kind,
      ...(storage.kind === 'lmdb' ? { sync } : {}),
      ...(periodicStore ? { syncs: periodicStore.syncs } : {}),
      ...(stores.periodicHintStore ? { hintSyncs: stores.periodicHintStore.syncs } : {}),
      backlog: { ...deps.handoff.figures },
      view: deps.health.view(),
      nats: { ...deps.natsFigures, ...deps.natsStats() },
      requests: { ...deps.counters, expired: deps.expiredRequests() },
      admission: { ...deps.admitted, ...deps.replicaFigures() },
      background: deps.foreground.figures(),
      outbox: deps.outbox.stats,
      membership: { ...membership.figures, status: v ? memberOf(v, id)?.status : undefined },
      transfer: deps.transfer.figures,
      antiEntropy: deps.antiEntropy.figures,
      actorId: stores.actorId,
      wireRejected: deps.rejected.counts,
      ...(deps.keyListing ? { keyListing: deps.keyListing() } : {}),
      decisions: deps.decisions.list(),
      transfers: table.filter((h) => h.state !== 'complete').map((h) => ({ partition: h.partition, state: h.state, moved: h.moved, source: h.sources[0], ...(h.rebuild ? { rebuild: true } : {}) })),
    };
  };
}
