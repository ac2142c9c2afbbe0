/**
 * A node's own part of a key listing: the live keys of some partitions it holds, as one page
 * (src/keyListing.ts). Served to coordinators on `dkv.<cluster>.internal.<ID>.keys`, and called
 * directly by this node's own coordinator.
 *
 * Pacing, so that a listing never starves foreground work:
 * - storage is read in slices of SCAN_SLICE_ENTRIES, with the event loop let go between slices
 *   (each slice opens a fresh iterator after the last key read, so no read transaction is held
 *   across turns);
 * - a request scans at most SCAN_ENTRIES_PER_REQUEST_MAX entries, split evenly among its
 *   partitions; a partition cut short answers the last key it read as `next`, so a prefix that
 *   matches nothing still gets through in bounded steps;
 * - at most SCANS_IN_PROGRESS_MAX scans run at once on a node; past that it answers overloaded
 *   and the coordinator asks another replica.
 */
import { setImmediate as nextTurn } from 'node:timers/promises';
import { encodeInternal } from '../src/codec.ts';
import { isListed, mergePages, pastPrefix, scanStart, type KeysPage } from '../src/keyListing.ts';
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

  const scanPartition = async (p: number, req: NodeKeysRequest, budget: number, nowMs: number): Promise<KeysPage> => {
    const keys: string[] = [];
    const { from, includeFrom } = scanStart(req);
    let read = 0;
    if (includeFrom && from !== undefined) {
      read++;
      const clock = deps.storage.get(p, from);
      if (clock !== undefined && isListed(clock, nowMs)) keys.push(from);
    }
    let cursor = from;
    for (;;) {
      let sliceRead = 0;
      let lastRead: string | undefined;
      let page: KeysPage | undefined;
      for (const [key, clock] of deps.storage.entries(p, cursor)) {
        if (pastPrefix(key, req.prefix)) {
          page = { keys, next: null };
          break;
        }
        read++;
        sliceRead++;
        lastRead = key;
        if (isListed(clock, nowMs)) keys.push(key);
        // Full, or out of budget: every key of the partition up to this one has been seen.
        if (keys.length >= req.limit || read >= budget) {
          page = { keys, next: key };
          break;
        }
        if (sliceRead >= SCAN_SLICE_ENTRIES) break;
      }
      figures.entriesScanned += sliceRead;
      if (page) return page;
      if (lastRead === undefined || sliceRead < SCAN_SLICE_ENTRIES) return { keys, next: null };
      cursor = lastRead;
      await nextTurn();
    }
  };

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
      const nowMs = deps.now();
      const refused = req.ps.filter((p) => entryOf(table, p)?.state !== 'complete');
      const ps = req.ps.filter((p) => !refused.includes(p));
      const budget = Math.max(1, Math.floor(SCAN_ENTRIES_PER_REQUEST_MAX / Math.max(1, ps.length)));
      const pages: KeysPage[] = [];
      for (const p of ps) {
        pages.push(await scanPartition(p, req, budget, nowMs));
        await nextTurn();
      }
      return { ...mergePages(pages, req.limit), refused };
    } finally {
      inProgress--;
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
