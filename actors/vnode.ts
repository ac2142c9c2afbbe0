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
import { coordinateWrite, isTombstoneAt, mergeReplica, type StoredClock, type StoredValue } from '../src/replica.ts';
import { equal } from '../src/dvvset.ts';
import { tooLargeToReplicate } from '../src/wire.ts';
import { bucketOf, EMPTY_HASH, keyHash, MerkleTree } from '../src/merkle.ts';
import { compareCodePoints } from '../src/storage/memory.ts';
import type { VersionVector } from '../src/versionVector.ts';
import { restartWithIntensity, type CrashHandler } from './supervision.ts';

import type { ReplicaResult } from '../src/replicaResult.ts';
export type { ReplicaResult } from '../src/replicaResult.ts';
export type Reply = (result: ReplicaResult) => void;

/** The answer to an operation for a partition this node no longer (or never) held. */
export const NOT_HELD: ReplicaResult = { ok: false, error: 'partition not held by this node' };

/**
 * `many` carries several operations in one mailbox turn, since a nact mailbox takes one message
 * per event-loop turn (transfers and anti-entropy's repairs). `crashed` brings a crash of
 * `runInline` into the actor, so that nact applies the vnode's policy to it: `ops` are the
 * operations the crash left unanswered.
 */
export type VnodeMsg = VnodeOp | { type: 'many'; ops: VnodeOp[] } | { type: 'crashed'; err: unknown; ops: VnodeOp[] };

export type VnodeOp =
  | { type: 'read'; key: string; reply: Reply }
  | {
      type: 'coordinate';
      key: string;
      context: VersionVector | undefined;
      value: StoredValue;
      /** Gets the new version at once, so the coordinator can replicate it while it is committed here. */
      /** `actor`: the id the write was versioned under (src/replica.ts putReplyContext). */
      computed: (clock: StoredClock, actor: string) => void;
      reply: Reply;
      /** Stored with an fsync before the reply (sync mode `one`). */
      durable?: boolean;
    }
  /** `durable`: stored with an fsync before the reply (sync mode `one`). */
  | { type: 'replicate'; key: string; clock: StoredClock; reply: Reply; durable?: boolean }
  /** Deletes a tombstone that every replica holds, if it is still exactly `clock` here. */
  | { type: 'reap'; key: string; clock: StoredClock; reply: Reply };

/** Made once: most writes pass no options. */
const DURABLE = { durable: true } as const;

/** Internal: the next slice of a Merkle tree rebuild, once the storage is flushed. */
type BuildMsg = { type: 'build'; generation: number };

/** Keys hashed per rebuild turn: a few milliseconds, so client requests interleave. */
const BUILD_CHUNK_KEYS = 1000;

/**
 * The partition's Merkle tree (src/merkle.ts), owned by the vnode: every write it makes updates
 * it. Readable by the anti-entropy actor only when `ready`. `actorId` is the node's identity for
 * the versions it coordinates (see actors/store.ts: a new one after a data loss).
 */
export interface TreeHolder {
  tree: MerkleTree;
  ready: boolean;
  /** Asks the vnode to rebuild the tree from storage (suspected corrupt). */
  rebuild?: () => void;
}

/** Test-only fault switches, shared by every vnode of a node; all zero unless a test arms them. */
export interface Faults {
  vnodeCrashes: number;
  /** Coordinators that throw when they start, before asking any replica (actors/coordinator.ts). */
  coordinatorCrashes: number;
  /** Replica reads from peers that this node refuses (answers not ok), as a replica in trouble would. */
  replicaReadRefusals: number;
  /** Read answers (get, peek) whose encoding fails, as a clock that cannot be encoded would (actors/readReply.ts). */
  replyEncodingFailures: number;
}

export interface VnodeDeps {
  readonly nodeId: string;
  readonly storage: StorageEngine<StoredClock>;
  readonly faults: Faults;
  readonly log: Logger;
  readonly now: () => number;
  /** Shared by every vnode of the node: restart intensity counts crashes across them (OTP style). */
  readonly onCrash: CrashHandler<VnodeMsg | BuildMsg>;
  /**
   * A read of this node's replica, the one the coordinators and peers use (actors/localReplica.ts
   * `readReplica`: merged with a former replica's while the partition is still being received).
   */
  readonly readReplica: (partition: number, key: string, reply: Reply) => boolean;
  readonly tree: TreeHolder;
  /** The largest version set a replica message can carry, in estimated bytes (src/wire.ts clockBytes). */
  readonly versionSetBytesMax?: () => number;
}


/**
 * Merges version sets into a vnode in one mailbox turn (a transfer page, anti-entropy's repairs);
 * resolves once every write has settled, with how many succeeded and the first failure.
 */
export function mergeAll(vnode: any, entries: ReadonlyArray<readonly [string, StoredClock]>): Promise<{ ok: number; error?: string }> {
  return new Promise((resolve) => {
    let pending = entries.length;
    let ok = 0;
    let error: string | undefined;
    if (pending === 0) return resolve({ ok });
    const ops: VnodeOp[] = entries.map(([key, clock]) => ({
      type: 'replicate',
      key,
      clock,
      reply: (r: ReplicaResult) => {
        if (r.ok) ok++;
        else error ??= r.error;
        if (--pending === 0) resolve(error === undefined ? { ok } : { ok, error });
      },
    }));
    nact.dispatch(vnode, { type: 'many', ops });
  });
}

/** One policy for all vnodes of a node, so ten different vnodes crashing count as ten. */
export function vnodePolicy(log: Logger, now: () => number): CrashHandler<VnodeMsg | BuildMsg> {
  return restartWithIntensity<VnodeMsg | BuildMsg>(log, {
    now,
    // Replies are idempotent at the receiver, so answering every op of a batch that crashed
    // half-way is safe: the ones already answered keep their first answer.
    onMessageLost: (msg, err) => {
      const lost = { ok: false as const, error: `vnode crashed: ${(err as Error).message}` };
      if (msg.type === 'build') return; // a rebuild slice: the reset starts a new rebuild
      for (const op of msg.type === 'many' || msg.type === 'crashed' ? msg.ops : [msg]) op.reply(lost);
    },
  });
}

interface VnodeState {
  readonly partition: number;
}

export function spawnVnode(parent: any, partition: number, deps: VnodeDeps): any {
  const { storage, faults, tree: holder } = deps;
  /**
   * A rebuild in progress: keys up to `cursor` are in the tree; `recent` are keys past it written
   * since the current slice's flush began (their staged versions are not listed yet).
   */
  let build: { generation: number; cursor: string | undefined; recent: Set<string>; startedMs: number } | undefined;
  let generation = 0;
  let self: any;
  const track = (key: string, before: StoredClock | undefined, after: StoredClock | undefined) => {
    if (build !== undefined && (build.cursor === undefined || compareCodePoints(key, build.cursor) > 0)) {
      build.recent.add(key);
      return;
    }
    holder.tree.update(bucketOf(key), keyHash(key, before), keyHash(key, after));
  };
  const nextSlice = () => {
    const b = build!;
    b.recent = new Set();
    const g = b.generation;
    storage.flush().then(() => nact.dispatch(self, { type: 'build', generation: g } satisfies BuildMsg));
  };
  const startBuild = () => {
    holder.ready = false;
    holder.tree = new MerkleTree();
    build = { generation: ++generation, cursor: undefined, recent: new Set(), startedMs: deps.now() };
    nextSlice();
  };
  const buildSlice = (msg: BuildMsg) => {
    const b = build;
    if (b === undefined || b.generation !== msg.generation) return;
    const listed: Array<[string, StoredClock]> = [];
    for (const entry of storage.entries(partition, b.cursor)) {
      listed.push(entry);
      if (listed.length >= BUILD_CHUNK_KEYS) break;
    }
    const done = listed.length < BUILD_CHUNK_KEYS;
    const last = done ? undefined : listed[listed.length - 1]![0];
    const inSlice = (k: string) => (b.cursor === undefined || compareCodePoints(k, b.cursor) > 0) && (last === undefined || compareCodePoints(k, last) <= 0);
    const seen = new Set<string>();
    for (const [key, listedClock] of listed) {
      seen.add(key);
      // A key written since the flush: its staged version is the one to hash.
      const clock = b.recent.has(key) ? storage.get(partition, key) : listedClock;
      holder.tree.update(bucketOf(key), EMPTY_HASH, keyHash(key, clock));
    }
    for (const key of b.recent) {
      if (seen.has(key) || !inSlice(key)) continue;
      holder.tree.update(bucketOf(key), EMPTY_HASH, keyHash(key, storage.get(partition, key)));
    }
    if (!done) {
      b.cursor = last;
      return nextSlice();
    }
    build = undefined;
    holder.ready = true;
    deps.log.debug({ event: 'merkle-built', partition, keys: holder.tree.keys, ms: deps.now() - b.startedMs }, `partition ${partition}: Merkle tree built`);
  };
  // A write is acknowledged without its clock: the coordinator already holds the version.
  const persist = (key: string, before: StoredClock | undefined, clock: StoredClock, reply: Reply, durable: boolean | undefined) => {
    track(key, before, clock);
    storage.put(partition, key, clock, durable ? DURABLE : undefined).then(
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
        if (!deps.readReplica(partition, msg.key, msg.reply)) msg.reply({ ok: true, clock: storage.get(partition, msg.key) ?? null });
        break;
      }
      case 'coordinate': {
        const before = storage.get(partition, msg.key);
        const next = coordinateWrite(before, msg.context, msg.value, deps.nodeId, deps.now());
        // A version set no message can carry could never reach the other replicas: refused
        // before it is stored, so nothing is half-applied.
        const refusal = tooLargeToReplicate(next, deps.versionSetBytesMax?.());
        if (refusal !== undefined) return void msg.reply({ ok: false, error: refusal });
        persist(msg.key, before, next, msg.reply, msg.durable);
        msg.computed(next, deps.nodeId);
        break;
      }
      case 'replicate': {
        const before = storage.get(partition, msg.key);
        const next = mergeReplica(before, msg.clock);
        persist(msg.key, before, next, msg.reply, msg.durable);
        break;
      }
      case 'reap': {
        const before = storage.get(partition, msg.key);
        if (before === undefined || !isTombstoneAt(before, deps.now()) || !equal(before, msg.clock)) {
          msg.reply({ ok: false, error: 'changed since it was checked' });
          break;
        }
        track(msg.key, before, undefined);
        storage.remove(partition, msg.key).then(
          () => msg.reply({ ok: true, clock: null }),
          (err: unknown) => msg.reply({ ok: false, error: `storage remove failed: ${(err as Error).message}` }),
        );
        break;
      }
    }
  };
  const behaviour = (state: VnodeState, msg: VnodeMsg | BuildMsg): VnodeState => {
    if (msg.type === 'crashed') throw msg.err;
    if (msg.type === 'build') buildSlice(msg);
    else if (msg.type === 'many') for (const op of msg.ops) one(op);
    else one(msg);
    return state;
  };
  const ref = nact.spawn(parent, behaviour, `vnode-${partition}`, {
    // Built (again) whenever the vnode starts: after a process restart, and after a crash reset,
    // since a crash may have interrupted an update.
    initialStateFunc: (ctx: any) => {
      self = ctx.self;
      holder.rebuild = () => startBuild();
      startBuild();
      return { partition };
    },
    onCrash: deps.onCrash,
  } as any);
  inline.set(ref, {
    retired: false,
    run(ops) {
      let i = 0;
      try {
        for (; i < ops.length; i++) one(ops[i]!);
      } catch (err) {
        nact.dispatch(ref, { type: 'crashed', err, ops: ops.slice(i) } satisfies VnodeMsg);
      }
    },
  });
  return ref;
}

interface InlineRunner {
  retired: boolean;
  run(ops: VnodeOp[]): void;
}

/** Each live vnode's operations as a plain call, by its nact reference (see runInline). */
const inline = new WeakMap<object, InlineRunner>();

/**
 * Runs operations on a vnode at once, in the caller's turn, instead of through its nact mailbox,
 * which costs a setImmediate, a context and a promise per message and spreads a socket read's
 * operations over as many turns. This is safe because an operation is synchronous and complete
 * in itself (it reads, computes, stages the write and registers its reply), as it is in a
 * mailbox turn; what the mailbox still orders (Merkle rebuild slices, merges of transfers and
 * repairs) commutes with these operations. A crash goes to the actor as a `crashed` message, so
 * the vnode's policy (reset, answer the lost operations, escalate past the restart intensity)
 * and its supervision log line are the same as for a crash in the mailbox.
 */
export function runInline(vnode: object, ops: VnodeOp[]): void {
  const runner = inline.get(vnode);
  if (runner === undefined) return void nact.dispatch(vnode, ops.length === 1 ? ops[0]! : { type: 'many', ops });
  if (runner.retired) {
    for (const op of ops) op.reply(NOT_HELD);
    return;
  }
  runner.run(ops);
}

/** The vnode is being stopped (its partition moved away): operations still on their way are refused. */
export function retireVnode(vnode: object): void {
  const runner = inline.get(vnode);
  if (runner) runner.retired = true;
}
