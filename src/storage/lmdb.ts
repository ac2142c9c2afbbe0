import { mkdirSync } from 'node:fs';
import { open, type RootDatabase } from 'lmdb';
import type { StorageEngine, WriteOptions } from './engine.ts';

/**
 * First address-space reservation for the map. lmdb-js grows the map by itself when it fills,
 * so this is not a size limit; the data file grows only as pages are written.
 */
const mapSizeBytesInitial = 256 * 1024 * 1024;

type DbKey = [partition: number, key: string];

/**
 * When a write counts as durable, so when `put` resolves and a replica acknowledges.
 * - `always`: committed and fsynced (lmdb's default). Survives a power loss of the machine.
 * - `periodic`: committed, which survives the crash or SIGKILL of the node process (the pages are
 *   in the kernel's cache), and fsynced with everything else within `syncIntervalMs`. A power
 *   loss or kernel crash can lose the writes of that last interval on this machine, and, as lmdb
 *   warns for its noSync mode, may leave the store unreadable. This is the trade Cassandra's
 *   default `commitlog_sync: periodic`, Riak's bitcask `sync_strategy: none` and JetStream's file
 *   store make: durability through the W replicas on other machines rather than a disk flush each.
 * - `one`: as `periodic`, and a write marked durable (`put(..., { durable: true })`) resolves
 *   only after an fsync that began after its commit. The write coordinator marks one replica of
 *   each write so (Dynamo §6.1's buffered writes with one "durable write"): an acknowledged write
 *   is on one disk. A durable write also waits for its fsync in `periodic`; in `always` every
 *   write does.
 */
export type SyncMode = 'always' | 'periodic' | 'one';
export const SYNC_MODES: readonly SyncMode[] = ['always', 'periodic', 'one'];
/** How often `periodic` fsyncs: at most this much of acknowledged writes is only in memory. */
export const SYNC_INTERVAL_MS_DEFAULT = 1_000;

export interface LmdbOptions {
  cachedValuesMax?: number;
  sync?: SyncMode;
  syncIntervalMs?: number;
  /** `periodic`: told of an fsync that failed (the writes stay committed; the next round retries). */
  onSyncError?: (err: unknown) => void;
}

/**
 * Decoded values kept per engine, oldest dropped first. A zipfian workload reads and writes a
 * few keys most of the time; for those, a read is a Map lookup instead of lmdb's read and a
 * msgpack decode. Values are immutable once handed over (see StorageEngine), so sharing is safe.
 */
const CACHED_VALUES_MAX = 50_000;

/** A write handed to lmdb but not yet durable; `value` undefined means a removal. */
interface Staged<T> {
  value: T | undefined;
}

/** A `periodic` or `one` write waiting for the in-thread group commit. */
interface Queued<T> {
  partition: number;
  key: string;
  id: string;
  staged: Staged<T>;
  /** Resolves after an fsync, not at commit (see SyncMode `one`). */
  durable: boolean;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** lmdb-js with `separateFlushed`: the commit promise also carries one for the fsync. */
type WritePromise = Promise<boolean> & { flushed?: PromiseLike<boolean> };

/**
 * Durable engine: one lmdb environment, one DB keyed by ordered-binary `[partition, key]`, so a
 * partition is a contiguous range. Values are msgpack (lmdb's default), which brings Uint8Array
 * values back as Buffer, a Uint8Array.
 *
 * Key size: lmdb-js allows 1978 bytes per key by default; `[partition, key]` costs the key's UTF-8
 * bytes plus about ten, so a 1024-byte key fits without raising the limit.
 */
export class LmdbStorage<T> implements StorageEngine<T> {
  readonly kind = 'lmdb' as const;
  readonly #db: RootDatabase<T, DbKey>;
  /**
   * lmdb's async writes are invisible to `get` until their batch commits, so staged writes sit
   * here for read-your-writes. Invariant: an entry is the newest staged write to its key and is
   * dropped once that write is durable (or failed). Bounded by lmdb-js's write backpressure,
   * which blocks `put` when too many writes are outstanding.
   */
  readonly #staged = new Map<string, Staged<T>>();
  /** Durable values of recently used keys (see CACHED_VALUES_MAX); a staged write shadows its entry. */
  readonly #cache = new Map<string, T>();
  /**
   * The cache's ids, oldest first from #cacheHead; an id dropped from the cache since stays until
   * popped. Evicting through `#cache.keys().next()` instead walks past every entry deleted at the
   * front of the Map's table since its last rehash: 8% of a node's time at 1,000,000 keys.
   */
  #cacheOrder: string[] = [];
  #cacheHead = 0;
  /**
   * The newest write's durability. lmdb commits in call order, so once it has settled every
   * earlier write has too: flush() waits for this one only.
   */
  #last: Promise<void> = Promise.resolve();

  readonly #cachedValuesMax: number;
  readonly sync: SyncMode;
  /** `periodic` and `one` (buffered modes) only: the timer, and whether a write committed since the last fsync began. */
  readonly #syncTimer: NodeJS.Timeout | undefined;
  #unsynced = false;
  /** Buffered modes only: writes staged in this turn of the event loop, committed together. */
  #queued: Queued<T>[] = [];
  /** fsyncs a buffered mode has done, periodic and for durable writes (for tests and status). */
  syncs = 0;
  /** Test fault switch: the next this many buffered-mode fsyncs fail instead of running. */
  failSyncs = 0;
  /** Decoded values held, and ids in their eviction order (for tests: both stay bounded). */
  get cacheSizes(): { values: number; order: number } {
    return { values: this.#cache.size, order: this.#cacheOrder.length - this.#cacheHead };
  }
  readonly #onSyncError: ((err: unknown) => void) | undefined;

  constructor(path: string, opts: LmdbOptions = {}) {
    this.#cachedValuesMax = opts.cachedValuesMax ?? CACHED_VALUES_MAX;
    this.sync = opts.sync ?? 'always';
    this.#onSyncError = opts.onSyncError;
    if (!SYNC_MODES.includes(this.sync)) throw new RangeError(`sync must be one of ${SYNC_MODES.join(', ')}, got ${JSON.stringify(this.sync)}`);
    const syncIntervalMs = opts.syncIntervalMs ?? SYNC_INTERVAL_MS_DEFAULT;
    if (!Number.isSafeInteger(syncIntervalMs) || syncIntervalMs < 1) throw new RangeError(`sync interval must be a positive integer (ms), got ${syncIntervalMs}`);
    mkdirSync(path, { recursive: true });
    this.#db = open<T, DbKey>({
      path,
      // A path ending like "x.db" would otherwise be taken for a file name.
      noSubdir: false,
      mapSize: mapSizeBytesInitial,
      // Default durability (overlappingSync on Linux) resolves writes at commit, before the
      // fsync; this exposes the fsync promise so put can wait for it.
      separateFlushed: true,
      // Commit and fsync together in lmdb's write thread: measured with `npm run bench`
      // (workload A) as 8% less node CPU per operation than overlapping the sync, and faster.
      overlappingSync: false,
      // Measured with `npm run bench` (workload A): about a fifth less CPU per operation in all.
      noSync: this.buffered,
    });
    this.#syncTimer = this.buffered ? setInterval(() => void this.#fsync(), syncIntervalMs).unref() : undefined;
  }

  /** Commits without an fsync each (`periodic`, `one`): the timer fsyncs, and durable writes ask for one. */
  get buffered(): boolean {
    return this.sync !== 'always';
  }

  get(partition: number, key: string): T | undefined {
    const id = stagedId(partition, key);
    const staged = this.#staged.get(id);
    if (staged) return staged.value;
    const cached = this.#cache.get(id);
    if (cached !== undefined) return cached;
    const stored = this.#db.get([partition, key]);
    if (stored !== undefined) this.#remember(id, stored);
    return stored;
  }

  put(partition: number, key: string, value: T, opts?: WriteOptions): Promise<void> {
    return this.#write(partition, key, value, opts?.durable === true, () => this.#db.put([partition, key], value));
  }

  remove(partition: number, key: string, opts?: WriteOptions): Promise<void> {
    return this.#write(partition, key, undefined, opts?.durable === true, () => this.#db.remove([partition, key]));
  }

  *entries(partition: number, after?: string): Iterable<[string, T]> {
    const range = partitionRange(partition);
    const start: DbKey | [number] = after === undefined ? range.start : [partition, after];
    for (const { key, value } of this.#db.getRange({ start, end: range.end })) {
      if (after !== undefined && key[1] === after) continue; // the range starts at the cursor itself
      yield [key[1], value];
    }
  }

  count(partition: number): number {
    return this.#db.getKeysCount(partitionRange(partition));
  }

  footprint(): { entries: number; bytes: number } {
    // lmdb's own figures for this database: committed entries, and the pages its tree takes.
    const stats = this.#db.getStats() as { entryCount: number; pageSize: number; treeBranchPageCount: number; treeLeafPageCount: number; overflowPages: number };
    return { entries: stats.entryCount, bytes: (stats.treeBranchPageCount + stats.treeLeafPageCount + stats.overflowPages) * stats.pageSize };
  }

  async flush(): Promise<void> {
    // A failed write already rejected its own put; flush only waits.
    await this.#last;
  }

  async close(): Promise<void> {
    clearInterval(this.#syncTimer);
    await this.flush();
    if (this.buffered) await this.#fsync();
    await this.#db.close();
  }

  /**
   * Flushes every committed write to disk (mdb_env_sync); a no-op when nothing was written since.
   * Resolves with the error of a failed fsync (reported to onSyncError too), undefined on success.
   */
  #fsync(): Promise<unknown> {
    if (!this.#unsynced) return Promise.resolve(undefined);
    this.#unsynced = false;
    return new Promise((resolve) => {
      // Not in lmdb-js's typings; RootDatabase.sync calls mdb_env_sync with force.
      const sync = (cb: (err: unknown) => void) => {
        if (this.failSyncs <= 0) return (this.#db as unknown as { sync(cb: (err: unknown) => void): void }).sync(cb);
        this.failSyncs--;
        setImmediate(() => cb(new Error('injected fsync fault (test fault switch)')));
      };
      sync((err) => {
        // A failed fsync leaves the writes committed and the next round tries again.
        if (err) {
          this.#unsynced = true;
          this.#onSyncError?.(err);
        } else this.syncs++;
        resolve(err ?? undefined);
      });
    });
  }

  #write(partition: number, key: string, value: T | undefined, wantsSync: boolean, start: () => Promise<boolean>): Promise<void> {
    // In `always` every write waits for its fsync, so `wantsSync` adds nothing there.
    if (this.buffered) return this.#queue(partition, key, value, wantsSync);
    // Start first: a write lmdb rejects at once (key too large) must not leave a staged value.
    const written = start() as WritePromise;
    const id = stagedId(partition, key);
    const staged: Staged<T> = { value };
    this.#staged.set(id, staged);
    // With overlappingSync off, the commit promise resolves after the fsync; `flushed` is kept
    // for the day that option changes.
    const durable = (written.flushed && written.flushed !== written ? written.then(() => written.flushed) : written).then(
      () => {
        this.#unsynced = true;
        this.#settle(id, staged, true);
      },
      (err: unknown) => {
        this.#settle(id, staged, false);
        throw err;
      },
    ) as Promise<void>;
    // Also marks the promise handled: a caller that drops a failed write's promise must not
    // bring the process down (the failure is the caller's to report).
    this.#last = durable.catch(ignore);
    return durable;
  }

  /**
   * `periodic`: stages the write and commits it with every other write of this turn of the event
   * loop in one synchronous transaction on this thread (setImmediate runs once the messages read
   * in this turn have been handled). Without an fsync a commit is a few page writes, cheaper
   * here than handing each write to lmdb-js's write thread and waking up for its promise.
   */
  #queue(partition: number, key: string, value: T | undefined, durable: boolean): Promise<void> {
    const id = stagedId(partition, key);
    const staged: Staged<T> = { value };
    const done = new Promise<void>((resolve, reject) => {
      if (this.#queued.length === 0) setImmediate(this.#commit);
      this.#queued.push({ partition, key, id, staged, durable, resolve, reject });
    });
    this.#staged.set(id, staged);
    this.#last = done.catch(ignore);
    return done;
  }

  readonly #commit = (): void => {
    const batch = this.#queued;
    this.#queued = [];
    const failed = new Map<Queued<T>, unknown>();
    try {
      this.#db.transactionSync(() => {
        for (const q of batch) {
          try {
            if (q.staged.value === undefined) this.#db.removeSync([q.partition, q.key]);
            else this.#db.putSync([q.partition, q.key], q.staged.value);
          } catch (err) {
            // A write refused on its own (a key past lmdb's size limit) fails alone. An error that
            // spoils the transaction makes the commit below fail, and with it every write.
            failed.set(q, err);
          }
        }
      });
    } catch (err) {
      for (const q of batch) if (!failed.has(q)) failed.set(q, err);
    }
    if (failed.size < batch.length) this.#unsynced = true;
    // The durable writes of this batch share one fsync, begun after their commit.
    let durable: Queued<T>[] | undefined;
    for (const q of batch) {
      const err = failed.get(q);
      this.#settle(q.id, q.staged, err === undefined);
      if (err !== undefined) q.reject(err);
      else if (q.durable) (durable ??= []).push(q);
      else q.resolve();
    }
    if (durable) void this.#fsync().then((err) => {
      // Committed either way (a read sees it); only the promise of disk is broken.
      for (const q of durable) if (err === undefined) q.resolve();
      else q.reject(err);
    });
  };

  /**
   * A staged write is durable (`ok`) or failed: it leaves the staged map, unless a newer write to
   * the key was staged meanwhile and owns the entry now. A durable value is cached; after a
   * failure what is on disk is not known here, so the cached value goes and is read again.
   */
  #settle(id: string, staged: Staged<T>, ok: boolean): void {
    if (this.#staged.get(id) !== staged) return;
    this.#staged.delete(id);
    if (ok && staged.value !== undefined) this.#remember(id, staged.value);
    else this.#cache.delete(id);
  }

  #remember(id: string, value: T): void {
    if (!this.#cache.has(id)) {
      const order = this.#cacheOrder;
      while (this.#cache.size >= this.#cachedValuesMax && this.#cacheHead < order.length) this.#cache.delete(order[this.#cacheHead++]!);
      order.push(id);
      // Ids popped, or dropped from the cache since (removes, failed writes): rebuild past half waste.
      if (order.length - this.#cacheHead > 2 * this.#cache.size + 1024) {
        this.#cacheOrder = [...this.#cache.keys(), id];
        this.#cacheHead = 0;
      } else if (this.#cacheHead > 1024 && this.#cacheHead * 2 > order.length) {
        this.#cacheOrder = order.slice(this.#cacheHead);
        this.#cacheHead = 0;
      }
    }
    this.#cache.set(id, value);
  }
}

function ignore(): void {}

/** Partition numbers contain no '/', so the first '/' separates partition from key. */
function stagedId(partition: number, key: string): string {
  return `${partition}/${key}`;
}

/** `[p]` sorts before every `[p, key]`, and `[p + 1]` after them all. */
function partitionRange(partition: number): { start: [number]; end: [number] } {
  return { start: [partition], end: [partition + 1] };
}
