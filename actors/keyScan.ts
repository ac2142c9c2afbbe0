/**
 * A node's own part of a key listing: the live keys of some partitions it holds, as one page
 * (src/keyListing.ts). Served to coordinators on `dkv.<cluster>.internal.<ID>.keys`, and called
 * directly by this node's own coordinator.
 *
 * The partitions are merged as they are read (a k-way merge over one small read-ahead buffer
 * each), so a page of `limit` keys reads about `limit` entries plus the buffers, not `limit` of
 * every partition: keys hash evenly over the partitions, and scanning each on its own for the
 * first `limit` would read up to partitions x limit entries to answer `limit`.
 *
 * Pacing, so that a listing never starves foreground work:
 * - the event loop is let go every SCAN_SLICE_ENTRIES entries, and each buffer refill opens a
 *   fresh iterator after the last key read, so no read transaction is held across turns;
 * - a request reads at most SCAN_ENTRIES_PER_REQUEST_MAX entries; cut short, it answers the last
 *   key it merged as `next` (every partition has been read up to it), so a prefix that matches
 *   nothing, or a run of tombstones, still gets through in bounded steps;
 * - at most SCANS_IN_PROGRESS_MAX scans run at once on a node; past that it answers overloaded
 *   and the coordinator asks another replica.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { encodeInternal } from '../src/codec.ts';
import { compareCodePoints, isListed, pastPrefix, scanStart, type KeysPage } from '../src/keyListing.ts';
import { parseNodeKeysRequest, type NodeKeysReply, type NodeKeysRequest } from '../src/keysProtocol.ts';
import { entryOf, type PartitionTable } from '../src/partitionTable.ts';
import type { StoredClock } from '../src/replica.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { Subjects } from '../src/subjects.ts';
import type { WireLimits } from '../src/wire.ts';
import type { Outbox } from './outbox.ts';
import type { Subscribe } from './subscriptions.ts';
import type { WireRejections } from './wireRejections.ts';

/** Entries read in one event-loop turn. */
export const SCAN_SLICE_ENTRIES = 500;
/** Entries one request may read in all, across its partitions. */
export const SCAN_ENTRIES_PER_REQUEST_MAX = 20_000;
/** Scans running at once on this node (its own coordinators' and its peers'). */
export const SCANS_IN_PROGRESS_MAX = 4;
/** Largest read-ahead of one partition in the merge, in entries. */
const READ_AHEAD_ENTRIES_MAX = 256;

export class ScanOverloaded extends Error {
  override readonly name = 'ScanOverloaded';
}

export interface KeyScanDeps {
  readonly id: string;
  readonly storage: StorageEngine<StoredClock>;
  table(): PartitionTable;
  now(): number;
}

export interface KeyScan {
  /** This node's page of `req.ps`; throws ScanOverloaded past SCANS_IN_PROGRESS_MAX. */
  scan(req: NodeKeysRequest): Promise<NodeKeysReply>;
  readonly figures: { scans: number; entriesScanned: number; overloaded: number };
}

export function keyScan(deps: KeyScanDeps): KeyScan {
  const figures = { scans: 0, entriesScanned: 0, overloaded: 0 };
  let inProgress = 0;

  /** One partition's place in the merge. Invariant: `buf[pos]` is its smallest key not yet merged, if any. */
  interface Cursor {
    readonly p: number;
    buf: Array<[string, StoredClock]>;
    pos: number;
    /** The last key read into `buf`: the next refill starts after it. */
    last: string | undefined;
    /** No key with the prefix is left after `buf`. */
    done: boolean;
    /** Entries the next refill reads: doubles with each refill, so a partition the merge keeps drawing on (a run of tombstones) is read in fewer, larger steps. */
    chunk: number;
  }

  const scan = async (req: NodeKeysRequest): Promise<NodeKeysReply> => {
    if (inProgress >= SCANS_IN_PROGRESS_MAX) {
      figures.overloaded++;
      throw new ScanOverloaded(`overloaded: ${deps.id} is running ${inProgress} key scans, at most ${SCANS_IN_PROGRESS_MAX}`);
    }
    inProgress++;
    try {
      figures.scans++;
      // entries() lists committed writes only (lmdb): the staged ones belong in the page too.
      await deps.storage.flush();
      const table = deps.table();
      const refused = req.ps.filter((p) => entryOf(table, p)?.state !== 'complete');
      const ps = req.ps.filter((p) => !refused.includes(p));
      return { ...(await merged(req, ps, deps.now())), refused };
    } finally {
      inProgress--;
    }
  };

  const merged = async (req: NodeKeysRequest, ps: readonly number[], nowMs: number): Promise<KeysPage> => {
    const keys: string[] = [];
    const { from, includeFrom } = scanStart(req);
    // The first read of each partition: about twice its share of the page, within what the budget allows for all.
    const chunk = Math.max(2, Math.min(64, Math.ceil((2 * req.limit) / Math.max(1, ps.length)), Math.floor(SCAN_ENTRIES_PER_REQUEST_MAX / (4 * Math.max(1, ps.length)))));
    let read = 0;
    let sinceYield = 0;
    const refill = (c: Cursor) => {
      c.buf = [];
      c.pos = 0;
      for (const entry of deps.storage.entries(c.p, c.last)) {
        if (pastPrefix(entry[0], req.prefix)) {
          c.done = true;
          break;
        }
        c.buf.push(entry);
        if (c.buf.length >= c.chunk) break;
      }
      if (c.buf.length < c.chunk) c.done = true;
      c.chunk = Math.min(READ_AHEAD_ENTRIES_MAX, c.chunk * 2);
      if (c.buf.length > 0) c.last = c.buf[c.buf.length - 1]![0];
      read += c.buf.length;
      sinceYield += c.buf.length;
    };
    const pace = async () => {
      if (sinceYield < SCAN_SLICE_ENTRIES) return;
      sinceYield = 0;
      await nextTurn();
    };
    try {
      // The key equal to the prefix: entries() starts after `from`.
      if (includeFrom && from !== undefined) {
        for (const p of ps) {
          const clock = deps.storage.get(p, from);
          if (clock !== undefined && isListed(clock, nowMs)) keys.push(from);
        }
        if (keys.length >= req.limit) return { keys: keys.slice(0, req.limit), next: from };
      }
      const cursors: Cursor[] = [];
      for (const p of ps) {
        const c: Cursor = { p, buf: [], pos: 0, last: from, done: false, chunk };
        refill(c);
        cursors.push(c);
        await pace();
      }
      for (;;) {
        let best: Cursor | undefined;
        for (const c of cursors) {
          const head = c.buf[c.pos];
          if (head !== undefined && (best === undefined || compareCodePoints(head[0], best.buf[best.pos]![0]) < 0)) best = c;
        }
        if (best === undefined) return { keys, next: null };
        const [key, clock] = best.buf[best.pos++]!;
        sinceYield++;
        if (isListed(clock, nowMs)) keys.push(key);
        if (best.pos >= best.buf.length && !best.done) refill(best);
        // Every partition's head is past `key`: all keys up to it have been seen.
        if (keys.length >= req.limit || read >= SCAN_ENTRIES_PER_REQUEST_MAX) return { keys, next: key };
        await pace();
      }
    } finally {
      figures.entriesScanned += read;
    }
  };

  return { scan, figures };
}

/**
 * Serves peers' scans on the node's internal keys subject. Anyone on the account can publish
 * there: a malformed request is answered with an error and counted, never scanned.
 */
export function serveKeyScan(deps: { readonly id: string; readonly subjects: Subjects; readonly subscribe: Subscribe; readonly outbox: Outbox; readonly wireLimits: WireLimits; readonly rejected: WireRejections; readonly scanner: KeyScan }): void {
  deps.subscribe(deps.subjects.keysScan(deps.id), {
    callback: (err, msg) => {
      if (err) return;
      const respond = (body: object) => deps.outbox.respond(msg, encodeInternal(body));
      let req: NodeKeysRequest;
      try {
        req = parseNodeKeysRequest(msg.data, deps.wireLimits);
      } catch (e) {
        deps.rejected.note('keys', (e as Error).message);
        return respond({ error: `malformed keys request: ${(e as Error).message}` });
      }
      deps.scanner.scan(req).then(respond, (e) => respond({ error: (e as Error).message }));
    },
  });
}
