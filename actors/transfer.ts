/**
 * transfer: one per node; moves partitions when the ring changes (Dynamo §4.9). The receiving
 * side pulls: for each partition it now replicates but does not hold, it asks a former replica
 * for the next page of keys after its cursor, merges the page through the vnode (so a page and
 * a concurrent client write to the same key apply in order), waits for it to be durable, and
 * only then moves the persisted cursor. A crash on either side therefore resumes from the last
 * durable page; pages are merges, so a page applied twice changes nothing.
 *
 * The giving side deletes a partition it no longer replicates only after every current replica of
 * it says its copy is complete: until then it keeps applying (and forwarding) writes for it.
 *
 * Pacing: one page at a time per node (the async handler holds the mailbox on purpose), at most
 * `keysPerSecond` keys per second, so a transfer never starves client requests.
 *
 * Policy: reset within the node's restart intensity. All progress lives in the persisted
 * partition table, so a reset only forgets when the next page is due.
 */
import nact from 'nact';
import type { Transport as NatsConnection } from './transport.ts';
import type { Logger } from 'pino';
import type { Clock } from './clock.ts';
import { encodeInternal } from '../src/codec.ts';
import { entryBytes, parseTransferReply, type TransferReply, type TransferRequest, type WireLimits } from '../src/wire.ts';
import { completed, dropped, entryOf, received, type Held, type PartitionTable } from '../src/partitionTable.ts';
import type { StoredClock } from '../src/replica.ts';
import type { Ring } from '../src/ring.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { Subjects } from '../src/subjects.ts';
import { isNoResponders } from '../src/errors.ts';
import { restartWithIntensity } from './supervision.ts';
import { mergeAll } from './vnode.ts';

/**
 * Full rate of a transfer, before the foreground's allowance (src/backgroundControl.ts) scales it
 * down: a lost disk of 100,000 keys comes back in seconds on an idle cluster.
 */
export const TRANSFER_KEYS_PER_SECOND = 20_000;
/** Keys per page: a page of 100-byte values is some tens of kilobytes on the wire. */
export const TRANSFER_PAGE_KEYS = 200;
/** A page stops growing past this many (estimated) bytes, far below NATS's max_payload. */
export const TRANSFER_PAGE_BYTES_MAX = 256 * 1024;
const TICK_MS = 50;
/** Receiving partitions visited in one turn when none yields a page (the rebuild handshake). */
const PARTITIONS_PER_TURN_MAX = 256;
/** Partitions pulled at once, a page each. */
const PULLS_IN_PARALLEL = 4;
/** A turn of questions stops after this long, so slow sources never hold the giving side up. */
const TURN_MS_MAX = 250;
const GIVE_CHECK_MS = 500;
const REQUEST_TIMEOUT_MS = 2000;

export type { TransferReply, TransferRequest };

export interface TransferDeps {
  readonly clock: Clock;
  readonly nodeId: string;
  /** What a peer's reply may hold (src/wire.ts). */
  readonly wireLimits: WireLimits;
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  readonly log: Logger;
  readonly n: number;
  readonly storage: StorageEngine<StoredClock>;
  readonly keysPerSecond?: number;
  readonly pageKeys?: number;
  table(): PartitionTable;
  setTable(table: PartitionTable): void;
  ring(): Ring | undefined;
  ringVersion(): number;
  isUp(node: string): boolean;
  vnode(p: number): any;
  /** The share of its full rate background work may use now (src/backgroundControl.ts), in (0, 1]. */
  allowance(): number;
  /** The partition's copy here is gone: stop its vnode. */
  dropVnode(p: number): void;
}

export interface Transfer {
  readonly ref: any;
  readonly figures: { pages: number; keysReceived: number; partitionsReceived: number; partitionsGiven: number; sourceFailures: number };
  /** Answers a peer's TransferRequest from this node's table and storage. */
  serve(req: TransferRequest): Promise<TransferReply>;
  stop(): void;
}

export function spawnTransfer(parent: any, deps: TransferDeps): Transfer {
  const { log, nodeId } = deps;
  const rate = deps.keysPerSecond ?? TRANSFER_KEYS_PER_SECOND;
  const pageKeys = deps.pageKeys ?? TRANSFER_PAGE_KEYS;
  const figures = { pages: 0, keysReceived: 0, partitionsReceived: 0, partitionsGiven: 0, sourceFailures: 0 };
  let nextPageAt = 0;
  let nextGiveCheckAt = 0;
  const startedAt = new Map<number, number>();

  const ask = async (node: string, req: TransferRequest): Promise<TransferReply> => {
    const reply = await deps.nc.request(deps.subjects.transfer(node), encodeInternal(req), { timeout: REQUEST_TIMEOUT_MS });
    return parseTransferReply(reply.data, deps.wireLimits);
  };

  const mergePage = async (p: number, entries: Array<[string, StoredClock]>): Promise<void> => {
    const vnode = deps.vnode(p);
    if (!vnode) throw new Error(`no vnode for partition ${p}`);
    const { error } = await mergeAll(vnode, entries);
    if (error !== undefined) throw new Error(error);
  };

  /**
   * One step of receiving `h`: a page from the first source that holds a complete copy. Returns
   * the keys taken (the rate applies to them). For a rebuild, a source that is rebuilding too
   * and one that is gone (no responders, or down) are noted: when every other replica is one of
   * the two and at least one is rebuilding, nobody has a complete copy to send (a brand-new
   * cluster, or every copy lost or being rebuilt at once) and the copy here is as complete as it
   * can be: it counts as complete, and anti-entropy repairs what a returning replica had.
   */
  const pull = async (h: Held): Promise<number> => {
    if (!startedAt.has(h.partition)) startedAt.set(h.partition, deps.clock.now());
    const rebuilding = new Set<string>();
    const gone = new Set<string>();
    for (const source of h.sources) {
      if (source === nodeId) continue;
      if (!deps.isUp(source)) {
        gone.add(source);
        continue;
      }
      let reply: TransferReply;
      try {
        reply = await ask(source, { type: 'page', p: h.partition, ...(h.cursor !== null ? { after: h.cursor } : {}), limit: pageKeys, rv: deps.ringVersion() });
      } catch (err) {
        if (isNoResponders(err)) {
          gone.add(source);
          continue;
        }
        figures.sourceFailures++;
        log.warn({ event: 'transfer-source-failed', partition: h.partition, source, err: (err as Error).message }, `partition ${h.partition}: ${source} did not answer`);
        continue;
      }
      if ('state' in reply && reply.state === 'rebuilding') rebuilding.add(source);
      if (!('entries' in reply)) continue; // the source does not hold a complete copy: try the next
      try {
        await mergePage(h.partition, reply.entries);
      } catch (err) {
        // The cursor stays where it was: the same page comes again on the next turn.
        log.warn({ event: 'transfer-page-failed', partition: h.partition, source, err: (err as Error).message }, `partition ${h.partition}: a page from ${source} could not be stored`);
        return 0;
      }
      figures.pages++;
      figures.keysReceived += reply.entries.length;
      // Set against the newest table: the ring may have changed while the page was in flight.
      let table = deps.table();
      const last = reply.entries[reply.entries.length - 1];
      if (last) table = received(table, h.partition, last[0], reply.entries.length);
      if (reply.done) {
        table = completed(table, h.partition);
        figures.partitionsReceived++;
        const moved = entryOf(deps.table(), h.partition)?.moved ?? 0;
        log.info(
          { event: 'transfer-complete', partition: h.partition, source, keys: moved + reply.entries.length, ms: deps.clock.now() - (startedAt.get(h.partition) ?? deps.clock.now()), ...(h.rebuild ? { rebuild: true } : {}) },
          `partition ${h.partition} received from ${source}`,
        );
        startedAt.delete(h.partition);
      }
      deps.setTable(table);
      if (reply.done) noteRebuildEnd();
      return reply.entries.length;
    }
    const others = deps.ring()?.replicas(h.partition, deps.n).filter((x) => x !== nodeId) ?? [];
    if (h.rebuild && rebuilding.size > 0 && others.every((x) => rebuilding.has(x) || gone.has(x))) {
      deps.setTable(completed(deps.table(), h.partition));
      figures.partitionsReceived++;
      startedAt.delete(h.partition);
      log.info(
        { event: 'rebuild-nothing-to-pull', partition: h.partition, rebuilding: [...rebuilding], gone: [...gone] },
        `partition ${h.partition}: every other replica is new or gone; nothing to pull, the copy here is complete`,
      );
      noteRebuildEnd();
    }
    return 0;
  };

  /** Says once when the last partition of a rebuild is in. */
  let rebuildStartedAt: number | undefined;
  const noteRebuildEnd = () => {
    if (rebuildStartedAt === undefined || deps.table().some((x) => x.rebuild)) return;
    log.info({ event: 'rebuild-complete', ms: deps.clock.now() - rebuildStartedAt, keysReceived: figures.keysReceived }, `store rebuilt: every partition this node replicates is complete (${figures.keysReceived} keys pulled)`);
    rebuildStartedAt = undefined;
  };

  const give = async (h: Held): Promise<void> => {
    const ring = deps.ring();
    if (!ring) return;
    const replicas = ring.replicas(h.partition, deps.n).filter((node) => node !== nodeId);
    for (const node of replicas) {
      try {
        const reply = await ask(node, { type: 'state', p: h.partition });
        if (!('state' in reply) || reply.state !== 'complete') return;
      } catch {
        return; // unreachable: keep the copy until it answers
      }
    }
    // Every replica is complete: this copy is no longer needed. Routing changes first (the table),
    // then the vnode goes, then the data.
    deps.setTable(dropped(deps.table(), h.partition));
    deps.dropVnode(h.partition);
    // entries() lists committed writes only: a write the vnode staged just before it stopped
    // must be committed first, or it would outlive the partition here.
    await deps.storage.flush();
    let removed = 0;
    for (const [key] of [...deps.storage.entries(h.partition)]) {
      await deps.storage.remove(h.partition, key);
      removed++;
    }
    figures.partitionsGiven++;
    log.info({ event: 'partition-handed-off', partition: h.partition, to: replicas, keysDeleted: removed }, `partition ${h.partition} handed off; local copy deleted`);
  };

  /** The partition pulled last: the next turn starts after it, so one whose sources are away holds up no other. */
  let lastPulled = -1;
  const behaviour = async (state: null, _msg: { type: 'tick' }): Promise<null> => {
    const now = deps.clock.now();
    if (now >= nextPageAt) {
      const receiving = deps.table().filter((h) => h.state === 'receiving');
      if (rebuildStartedAt === undefined && receiving.some((h) => h.rebuild)) rebuildStartedAt = now;
      const order = [...receiving.filter((h) => h.partition > lastPulled), ...receiving.filter((h) => h.partition <= lastPulled)].slice(0, PARTITIONS_PER_TURN_MAX);
      // Rounds of up to PULLS_IN_PARALLEL partitions at once, one page each: a page's round trip
      // and its commit on both sides overlap with the others'. Rounds follow one another within
      // the turn while the rate allows, so the tick does not cap a transfer at a page per tick;
      // partitions that only wait or complete without keys cost a question each, so a brand-new
      // cluster settles in a turn or two.
      for (let i = 0; i < order.length; i += PULLS_IN_PARALLEL) {
        const round = order.slice(i, i + PULLS_IN_PARALLEL);
        lastPulled = round[round.length - 1]!.partition;
        const keys = (await Promise.all(round.map((h) => pull(h)))).reduce((sum, k) => sum + k, 0);
        if (keys > 0) nextPageAt = deps.clock.now() + (keys * 1000) / (rate * deps.allowance());
        if (deps.clock.now() - now > TURN_MS_MAX || deps.clock.now() < nextPageAt) break;
      }
    }
    if (now >= nextGiveCheckAt) {
      nextGiveCheckAt = now + GIVE_CHECK_MS;
      for (const h of deps.table().filter((e) => e.state === 'giving')) await give(h);
    }
    return state;
  };

  const ref = nact.spawn(parent, behaviour, 'transfer', { initialState: null, onCrash: restartWithIntensity(log, { now: () => deps.clock.now() }) });
  const timer = deps.clock.setInterval(() => nact.dispatch(ref, { type: 'tick' }), TICK_MS);
  timer.unref?.();

  const serve = async (req: TransferRequest): Promise<TransferReply> => {
    const h = entryOf(deps.table(), req.p);
    if (req.type === 'state') return { state: h?.state ?? 'none' };
    // Rebuilding, with or without pages pulled: it holds no complete copy, and says why, so that
    // replicas rebuilding at once (and the last complete copy gone) do not wait on each other.
    if (h?.state === 'receiving' && h.rebuild) return { state: 'rebuilding' };
    if (h === undefined || h.state === 'receiving') return { error: `${nodeId} holds no complete copy of partition ${req.p}` };
    // A source that has not seen the requester's ring would not forward the writes that stale
    // coordinators still send it; once it has, every write after this page reaches the requester.
    if (!Number.isInteger(req.rv) || req.rv > deps.ringVersion()) return { error: `${nodeId} has not seen ring version ${req.rv} yet` };
    const limit = Math.max(1, Math.min(TRANSFER_PAGE_KEYS, Math.floor(req.limit)));
    // entries() lists committed writes only; the staged ones must be in the page too.
    await deps.storage.flush();
    const entries: Array<[string, StoredClock]> = [];
    let bytes = 0;
    let done = true;
    for (const entry of deps.storage.entries(req.p, req.after)) {
      if (entries.length >= limit || bytes >= TRANSFER_PAGE_BYTES_MAX) {
        done = false;
        break;
      }
      entries.push(entry);
      bytes += entryBytes(entry[0], entry[1]);
    }
    return { entries, done };
  };

  return { ref, figures, serve, stop: () => deps.clock.clearInterval(timer) };
}
