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
import type { NatsConnection } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { encodeInternal } from '../src/codec.ts';
import { parseTransferReply, type TransferReply, type TransferRequest, type WireLimits } from '../src/wire.ts';
import { completed, dropped, entryOf, received, type Held, type PartitionTable } from '../src/partitionTable.ts';
import type { StoredClock } from '../src/replica.ts';
import type { Ring } from '../src/ring.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { Subjects } from '../src/subjects.ts';
import { restartWithIntensity } from './supervision.ts';
import { mergeAll } from './vnode.ts';

export const TRANSFER_KEYS_PER_SECOND = 5000;
/** Keys per page: a page of 100-byte values is some tens of kilobytes on the wire. */
export const TRANSFER_PAGE_KEYS = 200;
const TICK_MS = 50;
const GIVE_CHECK_MS = 500;
const REQUEST_TIMEOUT_MS = 2000;

export type { TransferReply, TransferRequest };

export interface TransferDeps {
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

  const pull = async (h: Held): Promise<void> => {
    if (!startedAt.has(h.partition)) startedAt.set(h.partition, Date.now());
    for (const source of h.sources) {
      if (source === nodeId || !deps.isUp(source)) continue;
      let reply: TransferReply;
      try {
        reply = await ask(source, { type: 'page', p: h.partition, ...(h.cursor !== null ? { after: h.cursor } : {}), limit: pageKeys, rv: deps.ringVersion() });
      } catch (err) {
        figures.sourceFailures++;
        log.warn({ event: 'transfer-source-failed', partition: h.partition, source, err: (err as Error).message }, `partition ${h.partition}: ${source} did not answer`);
        continue;
      }
      if (!('entries' in reply)) continue; // the source does not hold a complete copy: try the next
      try {
        await mergePage(h.partition, reply.entries);
      } catch (err) {
        // The cursor stays where it was: the same page comes again on the next turn.
        log.warn({ event: 'transfer-page-failed', partition: h.partition, source, err: (err as Error).message }, `partition ${h.partition}: a page from ${source} could not be stored`);
        return;
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
          { event: 'transfer-complete', partition: h.partition, source, keys: moved + reply.entries.length, ms: Date.now() - (startedAt.get(h.partition) ?? Date.now()) },
          `partition ${h.partition} received from ${source}`,
        );
        startedAt.delete(h.partition);
      }
      deps.setTable(table);
      nextPageAt = Date.now() + (reply.entries.length * 1000) / rate;
      return;
    }
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

  const behaviour = async (state: null, _msg: { type: 'tick' }): Promise<null> => {
    const now = Date.now();
    if (now >= nextPageAt) {
      const receiving = deps.table().find((h) => h.state === 'receiving');
      if (receiving) await pull(receiving);
    }
    if (now >= nextGiveCheckAt) {
      nextGiveCheckAt = now + GIVE_CHECK_MS;
      for (const h of deps.table().filter((e) => e.state === 'giving')) await give(h);
    }
    return state;
  };

  const ref = nact.spawn(parent, behaviour, 'transfer', { initialState: null, onCrash: restartWithIntensity(log, {}) });
  const timer = setInterval(() => nact.dispatch(ref, { type: 'tick' }), TICK_MS);
  timer.unref();

  const serve = async (req: TransferRequest): Promise<TransferReply> => {
    const h = entryOf(deps.table(), req.p);
    if (req.type === 'state') return { state: h?.state ?? 'none' };
    if (h === undefined || h.state === 'receiving') return { error: `${nodeId} holds no complete copy of partition ${req.p}` };
    // A source that has not seen the requester's ring would not forward the writes that stale
    // coordinators still send it; once it has, every write after this page reaches the requester.
    if (!Number.isInteger(req.rv) || req.rv > deps.ringVersion()) return { error: `${nodeId} has not seen ring version ${req.rv} yet` };
    const limit = Math.max(1, Math.min(TRANSFER_PAGE_KEYS, Math.floor(req.limit)));
    // entries() lists committed writes only; the staged ones must be in the page too.
    await deps.storage.flush();
    const entries: Array<[string, StoredClock]> = [];
    for (const entry of deps.storage.entries(req.p, req.after)) {
      entries.push(entry);
      if (entries.length >= limit) break;
    }
    return { entries, done: entries.length < limit };
  };

  return { ref, figures, serve, stop: () => clearInterval(timer) };
}
