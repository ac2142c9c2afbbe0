/**
 * The node's disk: its state files, the replica and hint stores with their durability, and the
 * identities its versions are written under. In one place because the order matters: every
 * state file is read and every store checked (actors/boot.ts) before anything opens or writes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Held, PartitionTable } from '../src/partitionTable.ts';
import type { View } from '../src/membership.ts';
import type { StoredClock } from '../src/replica.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import { LmdbStorage, type SyncMode } from '../src/storage/lmdb.ts';
import { openStorage } from '../src/storage/open.ts';
import { writeJsonAtomic } from '../src/storage/jsonFile.ts';
import { checkStore, loadTable } from './boot.ts';
import { IDENTITY_FILE, StandInEpochs, storeIdentity } from './identity.ts';
import { loadView } from './membership.ts';
import type { NodeOptions } from './nodeOptions.ts';
import { loadOrStop } from './stateFiles.ts';

/** The persisted partition table, with the index the per-operation lookups (read-through) use. */
export class PartitionTableFile {
  #table: PartitionTable;
  #receiving: ReadonlyMap<number, Held>;

  constructor(
    private readonly file: string,
    table: PartitionTable,
  ) {
    this.#table = table;
    this.#receiving = receivingOf(table);
  }

  get table(): PartitionTable {
    return this.#table;
  }

  /** The partitions still being received, by partition. */
  get receiving(): ReadonlyMap<number, Held> {
    return this.#receiving;
  }

  /** Every change is persisted before anyone acts on it. */
  set(next: PartitionTable): void {
    if (next === this.#table) return;
    this.#table = next;
    this.#receiving = receivingOf(next);
    writeJsonAtomic(this.file, next);
  }
}

const receivingOf = (t: PartitionTable) => new Map<number, Held>(t.filter((h) => h.state === 'receiving').map((h) => [h.partition, h]));

/** A node's state files as its start found them. */
export interface StateFiles {
  readonly partitions: PartitionTableFile;
  /** The persisted membership view; undefined on a first start. The membership actor starts from it. */
  readonly view: View | undefined;
}

/** The state files: an unreadable one stops the node before anything starts (stateFiles.ts). */
export function loadStateFiles(log: Logger, dataDir: string, q: number): StateFiles {
  const file = join(dataDir, 'partitions.json');
  const partitions = new PartitionTableFile(file, loadOrStop(log, () => loadTable(file, q)));
  return { partitions, view: loadOrStop(log, () => loadView(dataDir)) };
}

export interface NodeStores {
  readonly storage: StorageEngine<StoredClock>;
  /** Hints live apart from the node's own replicas: their own environment, their own durability. */
  readonly hintStore: StorageEngine<StoredClock>;
  readonly sync: SyncMode;
  /** The replica store when it fsyncs periodically (`periodic`, `one`): its fsync count is reported, and can be made to fail (faults). */
  readonly periodicStore: LmdbStorage<StoredClock> | undefined;
  /** The hint store when it fsyncs periodically: in `one`, a stand-in with the durable mark fsyncs it at once (src/writeCore.ts). */
  readonly periodicHintStore: LmdbStorage<StoredClock> | undefined;
  /** The identity this node's versions are written under (actors/identity.ts). */
  readonly actorId: string;
  readonly standIn: StandInEpochs;
  /** false for a store this start created: a first start or a lost disk, which look alike from here. */
  readonly storeExisted: boolean;
  close(): Promise<void>;
}

export function openStores(opts: NodeOptions, log: Logger): NodeStores {
  const { id, dataDir } = opts;
  const lmdb = opts.storage === 'lmdb';
  const storeExisted = lmdb && existsSync(join(dataDir, 'store', IDENTITY_FILE));
  const sync: SyncMode = opts.sync ?? 'always';
  const durability = (store: string) =>
    ({
      sync,
      ...(opts.syncIntervalMs !== undefined ? { syncIntervalMs: opts.syncIntervalMs } : {}),
      // Acknowledged writes are committed but not on disk until an fsync succeeds: say so.
      onSyncError: (err: unknown) => log.error({ event: 'storage-sync-failed', store, err: (err as Error)?.message ?? String(err) }, `fsync of the ${store} store failed; retrying at the next interval`),
    }) as const;
  if (lmdb) {
    checkStore(log, 'replica', join(dataDir, 'store'), IDENTITY_FILE);
    checkStore(log, 'hint', join(dataDir, 'hints'));
  }
  const storage = openStorage<StoredClock>({ kind: opts.storage, path: join(dataDir, 'store'), ...durability('replica') });
  const actorId = storeIdentity(lmdb ? join(dataDir, 'store') : undefined, id);
  const hintStore = openStorage<StoredClock>({ kind: opts.storage, path: join(dataDir, 'hints'), ...durability('hint') });
  const standIn = new StandInEpochs(lmdb ? join(dataDir, 'hints', IDENTITY_FILE) : undefined, id);
  const periodicStore = storage instanceof LmdbStorage && storage.buffered ? storage : undefined;
  const periodicHintStore = hintStore instanceof LmdbStorage && hintStore.buffered ? hintStore : undefined;
  return {
    storage,
    hintStore,
    sync,
    periodicStore,
    periodicHintStore,
    actorId,
    standIn,
    storeExisted,
    close: async () => {
      await storage.close();
      await hintStore.close();
    },
  };
}
