/**
 * anti-entropy: one per node (Dynamo §4.7). Round-robin over the partitions this node holds
 * complete and the other replicas of each, it compares Merkle trees with one replica at a time,
 * descends only into subtrees that differ (src/merkle.ts `diffKeys`), fetches the version sets of
 * the differing keys and merges them both ways: into its own vnode, and into the peer's with a
 * replica write. Merges are dvvset syncs, so a repair never drops a sibling and never brings
 * back a value that a newer tombstone covers.
 *
 * It also reaps tombstones: a tombstone older than the grace period that every replica holds,
 * identical, is deleted everywhere (each replica deletes it only if it is still that tombstone).
 *
 * Limits (named below): one exchange at a time per node (the async handler holds the mailbox on
 * purpose), at most AE_BUCKETS_PER_EXCHANGE differing buckets per exchange, and a pause after
 * each exchange so that repairs stay under `keysPerSecond`.
 *
 * Policy: reset within the node's restart intensity. Its state is where the round-robin is and
 * its figures; a reset only restarts the round.
 */
import nact from 'nact';
import type { Transport as NatsConnection } from './transport.ts';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { encodeInternal } from '../src/codec.ts';
import { parseAeReply, type AeReply, type AeRequest, type WireLimits } from '../src/wire.ts';
import { equal } from '../src/dvvset.ts';
import { bucketOf, diffKeys, keyHash, MERKLE_DEPTH, MERKLE_LEAVES, type Hash, type TreeSide } from '../src/merkle.ts';
import type { PartitionTable } from '../src/partitionTable.ts';
import { deadSinceMs, isTombstoneAt, type StoredClock } from '../src/replica.ts';
import type { Ring } from '../src/ring.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { Subjects } from '../src/subjects.ts';
import type { Outbox } from './outbox.ts';
import { restartWithIntensity } from './supervision.ts';
import { mergeAll, type ReplicaResult, type TreeHolder, type VnodeOp } from './vnode.ts';

export const AE_INTERVAL_MS = 1000;
export const AE_KEYS_PER_SECOND = 2000;
/** While every exchange agrees, at most this many intervals pass between two exchanges. */
export const AE_IDLE_INTERVALS_MAX = 2;
export const AE_BUCKETS_PER_EXCHANGE = 64;
export const TOMBSTONE_GRACE_MS = 60 * 60 * 1000;
/** Tombstones looked at per reaping turn (one partition's scan is bounded by this too). */
const REAP_SCAN_KEYS_MAX = 2000;
const REAP_BATCH_MAX = 100;
const REQUEST_TIMEOUT_MS = 2000;
/** An exchange whose buckets differ but whose keys all agree this many times in a row: rebuild. */
const SUSPECT_ROUNDS_MAX = 3;

export type { AeReply, AeRequest };

export interface AntiEntropyDeps {
  readonly clock: Clock;
  readonly nodeId: string;
  /** What a peer's reply may hold (src/wire.ts). */
  readonly wireLimits: WireLimits;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly outbox: Outbox;
  readonly log: Logger;
  readonly n: number;
  readonly storage: StorageEngine<StoredClock>;
  readonly intervalMs?: number;
  readonly keysPerSecond?: number;
  /** The share of `keysPerSecond` the foreground leaves now (src/backgroundControl.ts). */
  readonly allowance?: () => number;
  readonly tombstoneGraceMs?: number;
  table(): PartitionTable;
  ring(): Ring | undefined;
  isUp(node: string): boolean;
  vnode(p: number): any;
  tree(p: number): TreeHolder | undefined;
}

export interface AntiEntropyFigures {
  exchanges: number;
  /** Exchanges started as soon as the budget allowed because the one before found differences (no interval waited). */
  followUps: number;
  /** Intervals currently waited between exchanges while replicas agree (1: no slow-down). */
  pace: number;
  agreeing: number;
  keysRepaired: number;
  keysPushed: number;
  bytesSent: number;
  bytesReceived: number;
  tombstonesReaped: number;
  treeRebuilds: number;
  lastRepairAt?: string;
}

export interface AntiEntropy {
  readonly ref: any;
  readonly figures: AntiEntropyFigures;
  serve(req: AeRequest): Promise<AeReply>;
  stop(): void;
}

export function spawnAntiEntropy(parent: any, deps: AntiEntropyDeps): AntiEntropy {
  const { log, nodeId, storage } = deps;
  const rate = deps.keysPerSecond ?? AE_KEYS_PER_SECOND;
  const grace = deps.tombstoneGraceMs ?? TOMBSTONE_GRACE_MS;
  const figures: AntiEntropyFigures = { exchanges: 0, followUps: 0, pace: 1, agreeing: 0, keysRepaired: 0, keysPushed: 0, bytesSent: 0, bytesReceived: 0, tombstonesReaped: 0, treeRebuilds: 0 };
  let turn = 0;
  let nextExchangeAt = 0;
  let reapPartition = 0;
  const suspect = new Map<number, number>();

  const readyTree = (p: number): TreeHolder | undefined => {
    const h = deps.tree(p);
    const held = deps.table().find((e) => e.partition === p);
    return h?.ready && (held?.state === 'complete' || held?.state === 'giving') ? h : undefined;
  };

  /** The (key, hash) pairs of `buckets`, from storage (flushed first, so staged writes count). */
  const localKeyHashes = async (p: number, buckets: readonly number[]): Promise<Array<[string, Hash]>> => {
    const wanted = new Set(buckets);
    await storage.flush();
    const out: Array<[string, Hash]> = [];
    for (const [key, clock] of storage.entries(p)) if (wanted.has(bucketOf(key))) out.push([key, keyHash(key, clock)]);
    return out;
  };

  const serve = async (req: AeRequest): Promise<AeReply> => {
    const holder = readyTree(req.p);
    if (!holder) return { error: `${nodeId} has no complete copy of partition ${req.p} with a built tree` };
    switch (req.type) {
      case 'hashes':
        if (!Number.isInteger(req.level) || req.level < 0 || req.level > MERKLE_DEPTH || !Array.isArray(req.idx) || req.idx.length > MERKLE_LEAVES) {
          return { error: 'bad hashes request' };
        }
        try {
          return { hashes: req.idx.map((i) => holder.tree.hash(req.level, i)) };
        } catch (err) {
          return { error: (err as Error).message };
        }
      case 'keys':
        if (!Array.isArray(req.buckets) || req.buckets.length > MERKLE_LEAVES) return { error: 'bad keys request' };
        return { keys: (await localKeyHashes(req.p, req.buckets)).map(([k, h]) => [k, h[0], h[1]]) };
      case 'clocks':
        if (!Array.isArray(req.keys) || req.keys.length > AE_BUCKETS_PER_EXCHANGE * 1024 || !req.keys.every((k) => typeof k === 'string')) return { error: 'bad clocks request' };
        return { clocks: req.keys.map((k) => [k, storage.get(req.p, k) ?? null]) };
      default:
        return { error: `unknown anti-entropy request type ${JSON.stringify((req as { type?: unknown }).type)}` };
    }
  };

  const ask = async (peer: string, req: AeRequest): Promise<AeReply> => {
    const data = encodeInternal(req);
    figures.bytesSent += data.length;
    const reply = await deps.nc.request(deps.subjects.antiEntropy(peer), data, { timeout: REQUEST_TIMEOUT_MS });
    figures.bytesReceived += reply.data.length;
    const answer = parseAeReply(reply.data, deps.wireLimits);
    if ('error' in answer) throw new Error(`${peer}: ${answer.error}`);
    return answer;
  };

  const mergeLocal = async (p: number, clocks: Array<[string, StoredClock]>): Promise<number> => {
    const vnode = deps.vnode(p);
    return vnode ? (await mergeAll(vnode, clocks)).ok : 0;
  };

  /** The number of keys that differed (0 when the replicas agree). */
  const exchange = async (p: number, peer: string, holder: TreeHolder): Promise<number> => {
    const sentBefore = figures.bytesSent + figures.bytesReceived;
    const local: TreeSide = {
      hashes: (level, idx) => idx.map((i) => holder.tree.hash(level, i)),
      keyHashes: (buckets) => localKeyHashes(p, buckets),
    };
    const remote: TreeSide = {
      hashes: async (level, idx) => ((await ask(peer, { type: 'hashes', p, level, idx: [...idx] })) as { hashes: Hash[] }).hashes,
      keyHashes: async (buckets) => ((await ask(peer, { type: 'keys', p, buckets: [...buckets] })) as { keys: Array<[string, number, number]> }).keys.map(([k, hi, lo]) => [k, [hi, lo]] as [string, Hash]),
    };
    figures.exchanges++;
    const { keys, more } = await diffKeys(local, remote, AE_BUCKETS_PER_EXCHANGE);
    if (keys.length === 0) {
      if (!sameRoots(holder, await remote.hashes(0, [0]))) noteSuspect(p, holder);
      else figures.agreeing++;
      return 0;
    }
    suspect.delete(p);
    const theirs = ((await ask(peer, { type: 'clocks', p, keys })) as { clocks: Array<[string, StoredClock | null]> }).clocks;
    const incoming = theirs.filter((e): e is [string, StoredClock] => e[1] !== null);
    const repaired = await mergeLocal(p, incoming);
    // And the other way: what this node has, the peer merges (a replica write, like any other).
    let pushed = 0;
    const theirsByKey = new Map(theirs);
    for (const key of keys) {
      const mine = storage.get(p, key);
      const other = theirsByKey.get(key) ?? null;
      if (mine === undefined || (other !== null && equal(mine, other))) continue;
      const op = { op: 'replicate' as const, p, k: key, c: mine };
      figures.bytesSent += encodeInternal(op).length;
      deps.outbox.call(deps.subjects.replica(peer), op, deps.clock.now() + REQUEST_TIMEOUT_MS, () => {});
      pushed++;
    }
    figures.keysRepaired += repaired;
    figures.keysPushed += pushed;
    figures.lastRepairAt = new Date().toISOString();
    const bytes = figures.bytesSent + figures.bytesReceived - sentBefore;
    log.info({ event: 'ae-repair', partition: p, peer, differing: keys.length, pulled: repaired, pushed, bytes, more }, `anti-entropy with ${peer} on partition ${p}: ${keys.length} keys differed`);
    nextExchangeAt = deps.clock.now() + (keys.length * 1000) / (rate * (deps.allowance?.() ?? 1));
    return keys.length;
  };

  const sameRoots = (holder: TreeHolder, theirs: Hash[]): boolean => theirs.length === 1 && holder.tree.root()[0] === theirs[0]![0] && holder.tree.root()[1] === theirs[0]![1];

  /** Subtrees differ but no key does, again and again: this tree (or the peer's) is suspect. */
  const noteSuspect = (p: number, holder: TreeHolder) => {
    const count = (suspect.get(p) ?? 0) + 1;
    suspect.set(p, count);
    if (count < SUSPECT_ROUNDS_MAX) return;
    suspect.delete(p);
    figures.treeRebuilds++;
    log.warn({ event: 'merkle-rebuild', partition: p, reason: 'subtrees differ but no key does' }, `partition ${p}: Merkle tree suspected corrupt; rebuilding`);
    holder.rebuild?.();
  };

  /** Tombstones past the grace period that every replica holds, identical, are deleted. */
  const reap = async (): Promise<void> => {
    const ring = deps.ring();
    const table = deps.table().filter((h) => h.state === 'complete');
    if (!ring || table.length === 0) return;
    const held = table[reapPartition++ % table.length]!;
    const p = held.partition;
    const replicas = ring.replicas(p, deps.n);
    if (!replicas.includes(nodeId) || replicas.some((r) => !deps.isUp(r))) return;
    const now = deps.clock.now();
    const candidates: Array<[string, StoredClock]> = [];
    let scanned = 0;
    for (const [key, clock] of storage.entries(p)) {
      if (++scanned > REAP_SCAN_KEYS_MAX || candidates.length >= REAP_BATCH_MAX) break;
      const since = deadSinceMs(clock, now);
      if (since !== undefined && since + grace <= now) candidates.push([key, clock]);
    }
    if (candidates.length === 0) return;
    const others = replicas.filter((r) => r !== nodeId);
    const agreed = await Promise.all(
      candidates.map(async ([key, clock]) => {
        const answers = await Promise.all(others.map((peer) => call(peer, { op: 'read', p, k: key })));
        return answers.every((r) => r.ok && r.clock !== null && isTombstoneAt(r.clock, now) && equal(r.clock, clock)) ? ([key, clock] as const) : undefined;
      }),
    );
    let reaped = 0;
    for (const entry of agreed) {
      if (!entry) continue;
      const [key, clock] = entry;
      for (const peer of others) deps.outbox.call(deps.subjects.replica(peer), { op: 'reap', p, k: key, c: clock }, deps.clock.now() + REQUEST_TIMEOUT_MS, () => {});
      const vnode = deps.vnode(p);
      if (vnode) nact.dispatch(vnode, { type: 'reap', key, clock, reply: () => {} } satisfies VnodeOp);
      reaped++;
    }
    if (reaped > 0) {
      figures.tombstonesReaped += reaped;
      log.info({ event: 'tombstones-reaped', partition: p, count: reaped }, `partition ${p}: ${reaped} tombstones reaped on every replica`);
    }
  };

  const call = (peer: string, op: { op: 'read'; p: number; k: string }): Promise<ReplicaResult> =>
    new Promise((resolve) => deps.outbox.call(deps.subjects.replica(peer), op, deps.clock.now() + REQUEST_TIMEOUT_MS, resolve));

  /**
   * Dynamo §6.5 pacing: an exchange that found differences is followed by the next one as soon
   * as the keys-per-second budget (nextExchangeAt) allows, with the same peer, so a replica that
   * lost data is refilled as fast as the budget allows; while exchanges agree, they slow down,
   * one more interval per full round of agreeing pairs, up to AE_IDLE_INTERVALS_MAX intervals.
   */
  let agreeingStreak = 0;
  let skipTicks = 0;
  /** The peer the last exchange found differences with, while follow-ups go on. */
  let focus: string | undefined;
  const behaviour = async (state: null, msg: { type: 'tick'; followUp?: true }, ctx: any): Promise<null> => {
    if (msg.followUp !== true && skipTicks > 0) {
      skipTicks--;
      return state;
    }
    if (deps.clock.now() < nextExchangeAt) return state;
    const ring = deps.ring();
    if (!ring) return state;
    // One (partition, peer) pair per tick, round-robin over every pair this node can exchange.
    const pairs: Array<[number, string]> = [];
    for (const h of deps.table()) {
      if (h.state !== 'complete') continue;
      for (const peer of ring.replicas(h.partition, deps.n)) if (peer !== nodeId) pairs.push([h.partition, peer]);
    }
    if (pairs.length > 0) {
      // A follow-up stays with the peer that differed: the next of its partitions comes next,
      // so a replica that lost data is walked through without the agreeing pairs in between.
      if (msg.followUp === true && focus !== undefined) {
        for (let i = 0; i < pairs.length && pairs[turn % pairs.length]![1] !== focus; i++) turn++;
      }
      const [p, peer] = pairs[turn++ % pairs.length]!;
      const holder = readyTree(p);
      if (holder && deps.isUp(peer)) {
        let differing = 0;
        try {
          differing = await exchange(p, peer, holder);
        } catch (err) {
          log.debug({ event: 'ae-exchange-failed', partition: p, peer, err: (err as Error).message }, 'anti-entropy exchange failed');
        }
        focus = differing > 0 ? peer : undefined;
        if (differing > 0) {
          agreeingStreak = 0;
          figures.pace = 1;
          figures.followUps++;
          // As soon as the keys-per-second budget allows: dispatched now, it would find the
          // pause after this repair still running and do nothing.
          const self = ctx.self;
          deps.clock.setTimeout(() => nact.dispatch(self, { type: 'tick', followUp: true }), Math.max(0, nextExchangeAt - deps.clock.now())).unref?.();
        } else {
          agreeingStreak++;
          figures.pace = Math.min(AE_IDLE_INTERVALS_MAX, 1 + Math.floor(agreeingStreak / pairs.length));
          skipTicks = figures.pace - 1;
        }
      }
    }
    if (turn % 10 === 0) await reap();
    return state;
  };

  const ref = nact.spawn(parent, behaviour, 'anti-entropy', { initialState: null, onCrash: restartWithIntensity(log, { now: () => deps.clock.now() }) });
  // An interval of 0 turns the exchanges off; this node still answers its peers' (serve).
  const intervalMs = deps.intervalMs ?? AE_INTERVAL_MS;
  const timer = intervalMs > 0 ? deps.clock.setInterval(() => nact.dispatch(ref, { type: 'tick' }), intervalMs) : undefined;
  timer?.unref?.();
  return { ref, figures, serve, stop: () => deps.clock.clearInterval(timer) };
}
