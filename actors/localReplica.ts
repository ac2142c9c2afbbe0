/**
 * This node's replicas: one vnode per partition it holds, and the reads of its copies that skip
 * the vnode's mailbox. The coordinators, the replica server, transfer and anti-entropy all reach
 * a partition through here, so that a vnode's life (spawned on a view, dropped once given away)
 * and the read-through of a partition still being received have one home.
 */
import nact from 'nact';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { MerkleTree } from '../src/merkle.ts';
import type { Held } from '../src/partitionTable.ts';
import { mergeReplica, readDigest, sameDigest, type StoredClock } from '../src/replica.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { Health } from './health.ts';
import type { Outbox } from './outbox.ts';
import { REPLICA_READ_THROUGH_MS } from './replicaServer.ts';
import { retireVnode, spawnVnode, type Faults, type ReplicaResult, type TreeHolder, type vnodePolicy } from './vnode.ts';
import { VnodeMail } from './vnodeMail.ts';

export interface LocalReplicaDeps {
  readonly id: string;
  readonly clock: Clock;
  /** The identity versions are written under (actors/identity.ts). */
  readonly actorId: string;
  /** The node supervisor: vnodes are its children. */
  readonly parent: any;
  readonly storage: StorageEngine<StoredClock>;
  readonly faults: Faults;
  readonly log: Logger;
  /** One policy shared by every vnode, so that crashes count across them (actors/vnode.ts vnodePolicy). */
  readonly onCrash: ReturnType<typeof vnodePolicy>;
  readonly outbox: Outbox;
  readonly health: Health;
  replicaSubject(node: string): string;
  /** The partitions still being received (actors/store.ts). */
  receiving(): ReadonlyMap<number, Held>;
}

export interface LocalReplicas {
  readonly vnodes: ReadonlyMap<number, any>;
  /** Operations for these vnodes from coordinators and peers' batches (actors/vnodeMail.ts). */
  readonly mail: VnodeMail;
  /** The Merkle tree of each partition held, kept by its vnode, read by anti-entropy. */
  tree(p: number): TreeHolder | undefined;
  /**
   * A replica read, answered in the caller's turn instead of a place in the vnode's mailbox:
   * storage.get already sees every write a vnode has staged, and a read changes nothing, so it
   * needs no ordering with the writes queued behind it (those are concurrent with it anyway).
   * Returns false when this node holds no replica of the partition.
   */
  readReplica(p: number, key: string, reply: (r: ReplicaResult) => void, digest?: unknown, own?: boolean): boolean;
  /** This node's copy, when it holds the partition and is not still receiving it; else undefined. */
  localCopy(p: number, key: string): StoredClock | null | undefined;
  ensureVnode(p: number): void;
  /** The partition's copy here is gone: stop its vnode. */
  dropVnode(p: number): void;
  /** One version set must fit a replica batch by itself, with room for its key. */
  versionSetBytesMax(): number;
}

export function localReplicas(deps: LocalReplicaDeps): LocalReplicas {
  const { id, storage, outbox } = deps;
  const vnodes = new Map<number, any>();
  const trees = new Map<number, TreeHolder>();

  /**
   * A read of a partition still being received: the local copy merged with a former replica's,
   * so that a key written before the transfer is never reported missing by its new replica.
   */
  const readThrough = (p: number, key: string, local: StoredClock | null, reply: (r: ReplicaResult) => void): boolean => {
    const h = deps.receiving().get(p);
    if (h === undefined) return false;
    const source = h.sources.find((s) => s !== id && deps.health.isUp(s));
    if (source === undefined) return false;
    // `own`: a source still receiving the partition itself (both rebuilding) answers from its copy
    // instead of reading through in turn, so two receivers never pass a read back and forth.
    outbox.call(deps.replicaSubject(source), { op: 'read', p, k: key, own: true }, deps.clock.now() + REPLICA_READ_THROUGH_MS, (r) => {
      if (!r.ok || r.clock === null) return reply({ ok: true, clock: local });
      reply({ ok: true, clock: local === null ? r.clock : mergeReplica(local, r.clock) });
    });
    return true;
  };
  const readReplica = (p: number, key: string, reply: (r: ReplicaResult) => void, digest?: unknown, own = false): boolean => {
    if (!vnodes.has(p)) return false;
    const local = storage.get(p, key) ?? null;
    if (!own && readThrough(p, key, local, reply)) return true;
    reply(digest !== undefined && sameDigest(readDigest(key, local), digest) ? { ok: true, clock: null, same: true } : { ok: true, clock: local });
    return true;
  };
  const versionSetBytesMax = () => outbox.batchBytesMax - 8 * 1024;

  return {
    vnodes,
    mail: new VnodeMail(),
    tree: (p) => trees.get(p),
    readReplica,
    localCopy: (p, key) => (vnodes.has(p) && !deps.receiving().has(p) ? (storage.get(p, key) ?? null) : undefined),
    ensureVnode: (p) => {
      if (vnodes.has(p)) return;
      const tree: TreeHolder = { tree: new MerkleTree(), ready: false };
      trees.set(p, tree);
      vnodes.set(p, spawnVnode(deps.parent, p, { nodeId: deps.actorId, storage, faults: deps.faults, log: deps.log, now: () => deps.clock.now(), onCrash: deps.onCrash, readReplica, tree, versionSetBytesMax }));
    },
    dropVnode: (p) => {
      const ref = vnodes.get(p);
      vnodes.delete(p);
      trees.delete(p);
      if (ref) {
        retireVnode(ref);
        nact.stop(ref);
      }
    },
    versionSetBytesMax,
  };
}
