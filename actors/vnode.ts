/**
 * vnode: one actor per partition replica held by this node, owning that partition's slice of
 * the storage engine. Its turn is synchronous (read, compute via src/replica.ts, stage the
 * write); the reply goes out when the engine reports the write durable, so the mailbox never
 * waits on a disk commit and writes to one key still apply in arrival order.
 *
 * Policy: reset and go on (the state is only a view of storage, so a reset loses nothing),
 * escalate past 10 crashes in 10 s; the request whose message crashed is answered `internal`.
 */
import nact from 'nact';
import type { Logger } from 'pino';
import type { StorageEngine } from '../src/storage/engine.ts';
import { coordinateWrite, mergeReplica, type StoredClock, type StoredValue } from '../src/replica.ts';
import type { VersionVector } from '../src/versionVector.ts';
import { restartWithIntensity, type CrashHandler } from './supervision.ts';

/** `unreachable` says why a peer did not answer, for the failure detector. */
export type ReplicaResult = { ok: true; clock: StoredClock | null } | { ok: false; error: string; unreachable?: 'no-responders' | 'timeout' };
export type Reply = (result: ReplicaResult) => void;

/**
 * `many` carries every operation a peer's batch holds for this partition: one mailbox turn for
 * all of them, since a nact mailbox takes one message per event-loop turn.
 */
export type VnodeMsg = VnodeOp | { type: 'many'; ops: VnodeOp[] };

export type VnodeOp =
  | { type: 'read'; key: string; reply: Reply }
  | {
      type: 'coordinate';
      key: string;
      context: VersionVector | undefined;
      value: StoredValue;
      /** Gets the new version at once, so the coordinator can replicate it while it is committed here. */
      computed: (clock: StoredClock) => void;
      reply: Reply;
    }
  | { type: 'replicate'; key: string; clock: StoredClock; reply: Reply };

/** Test-only fault switches, shared by every vnode of a node; all zero unless a test arms them. */
export interface Faults {
  vnodeCrashes: number;
}

export interface VnodeDeps {
  readonly nodeId: string;
  readonly storage: StorageEngine<StoredClock>;
  readonly faults: Faults;
  readonly log: Logger;
  readonly now: () => number;
  /** Shared by every vnode of the node: restart intensity counts crashes across them (OTP style). */
  readonly onCrash: CrashHandler<VnodeMsg>;
  /**
   * While this partition is still being received, a read merges the local copy with a former
   * replica's (see actors/transfer.ts); returns false when the partition is complete here.
   */
  readonly readThrough?: (partition: number, key: string, local: StoredClock | null, reply: Reply) => boolean;
}

/** One policy for all vnodes of a node, so ten different vnodes crashing count as ten. */
export function vnodePolicy(log: Logger): CrashHandler<VnodeMsg> {
  return restartWithIntensity<VnodeMsg>(log, {
    // Replies are idempotent at the receiver, so answering every op of a batch that crashed
    // half-way is safe: the ones already answered keep their first answer.
    onMessageLost: (msg, err) => {
      const lost = { ok: false as const, error: `vnode crashed: ${(err as Error).message}` };
      for (const op of msg.type === 'many' ? msg.ops : [msg]) op.reply(lost);
    },
  });
}

interface VnodeState {
  readonly partition: number;
}

export function spawnVnode(parent: any, partition: number, deps: VnodeDeps): any {
  const { storage, faults } = deps;
  // A write is acknowledged without its clock: the coordinator already holds the version.
  const persist = (key: string, clock: StoredClock, reply: Reply) => {
    storage.put(partition, key, clock).then(
      () => reply({ ok: true, clock: null }),
      (err: unknown) => reply({ ok: false, error: `storage write failed: ${(err as Error).message}` }),
    );
  };
  const one = (msg: VnodeOp): void => {
    if (faults.vnodeCrashes > 0) {
      faults.vnodeCrashes -= 1;
      throw new Error(`injected vnode fault (partition ${partition})`);
    }
    switch (msg.type) {
      case 'read': {
        const local = storage.get(partition, msg.key) ?? null;
        if (!deps.readThrough?.(partition, msg.key, local, msg.reply)) msg.reply({ ok: true, clock: local });
        break;
      }
      case 'coordinate': {
        const next = coordinateWrite(storage.get(partition, msg.key), msg.context, msg.value, deps.nodeId, deps.now());
        persist(msg.key, next, msg.reply);
        msg.computed(next);
        break;
      }
      case 'replicate': {
        const next = mergeReplica(storage.get(partition, msg.key), msg.clock);
        persist(msg.key, next, msg.reply);
        break;
      }
    }
  };
  const behaviour = (state: VnodeState, msg: VnodeMsg): VnodeState => {
    if (msg.type === 'many') for (const op of msg.ops) one(op);
    else one(msg);
    return state;
  };
  return nact.spawn(parent, behaviour, `vnode-${partition}`, {
    initialState: { partition },
    onCrash: deps.onCrash,
  });
}
