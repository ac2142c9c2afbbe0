/** `durable`: resolve only once the write is on disk, whatever the engine's sync mode (lmdb: an fsync). */
export interface WriteOptions {
  readonly durable?: boolean;
}

/**
 * A vnode's local store: values per (partition, key). Keys are opaque strings (any characters,
 * at most 1024 UTF-8 bytes); values are plain data (objects, arrays, numbers, strings, null,
 * Uint8Array) and are treated as immutable once handed over.
 */
export interface StorageEngine<T> {
  readonly kind: 'lmdb' | 'memory';
  /** Newest value for (partition, key), including writes not yet durable (read-your-writes). Synchronous. */
  get(partition: number, key: string): T | undefined;
  /**
   * Stages the write at once (a following get sees it) and resolves only after it is durable:
   * for lmdb committed and synced, or with sync 'periodic' committed (see SyncMode). Writes to
   * the same key take effect in call order. `opts.durable`: for lmdb, synced even in a buffered
   * mode; the memory engine has no disk and ignores it.
   */
  put(partition: number, key: string, value: T, opts?: WriteOptions): Promise<void>;
  /** Same contract as put, removing the entry. */
  remove(partition: number, key: string, opts?: WriteOptions): Promise<void>;
  /**
   * Ordered by key (Unicode code point order, which is UTF-8 byte order); a consistent snapshot
   * is not required. Used by later anti-entropy and transfers, never on a request path.
   * lmdb lists committed writes only: `await flush()` first to include staged ones.
   * `after`: start with the first key greater than this one (a transfer's cursor).
   */
  entries(partition: number, after?: string): Iterable<[string, T]>;
  /** Number of entries in the partition; like entries, counts committed writes (lmdb). */
  count(partition: number): number;
  /**
   * Entries held in all partitions, and the bytes they take when the engine can tell (lmdb: its
   * pages in use; memory: not measured). Cheap enough for a metrics scrape, never on a request path.
   */
  footprint(): { entries: number; bytes?: number };
  /** Resolves when all pending writes are durable. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

export type StorageKind = StorageEngine<unknown>['kind'];
