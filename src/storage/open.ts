/**
 * Opens a storage engine by kind. Apart from the interface (engine.ts), so that the engines
 * import the interface and only this file imports the engines.
 */
import type { StorageEngine, StorageKind } from './engine.ts';
import { LmdbStorage, type SyncMode } from './lmdb.ts';
import { MemoryStorage } from './memory.ts';

export function openStorage<T>(opts: { kind: StorageKind; path?: string; sync?: SyncMode; syncIntervalMs?: number; onSyncError?: (err: unknown) => void }): StorageEngine<T> {
  switch (opts.kind) {
    case 'memory':
      return new MemoryStorage<T>();
    case 'lmdb':
      if (!opts.path) throw new TypeError('lmdb storage needs a path');
      return new LmdbStorage<T>(opts.path, {
        ...(opts.sync ? { sync: opts.sync } : {}),
        ...(opts.syncIntervalMs !== undefined ? { syncIntervalMs: opts.syncIntervalMs } : {}),
        ...(opts.onSyncError ? { onSyncError: opts.onSyncError } : {}),
      });
    default:
      throw new TypeError(`unknown storage kind: ${String((opts as { kind: unknown }).kind)}`);
  }
}
