/**
 * What a node checks on its own disk before anything opens it: the lmdb stores (a damaged one
 * stops the node with the way back) and the persisted partition table.
 */
import type { Logger } from 'pino';
import { isPartitionTable, type PartitionTable } from '../src/partitionTable.ts';
import { checkLmdbStore, StoreDamagedError } from '../src/storage/lmdbCheck.ts';
import { readStateFile, StateFileError } from './stateFiles.ts';

/**
 * A damaged lmdb store stops the node before anything opens it, with a fatal log line and an
 * error that say which store and what to do; left to lmdb, some damage crashes the process with
 * no word (see src/storage/lmdbCheck.ts). Cassandra's `disk_failure_policy: stop`, said out loud.
 */
export function checkStore(log: Logger, store: 'replica' | 'hint', path: string, identityFile?: string): void {
  try {
    const check = checkLmdbStore(path, identityFile);
    if (check.checked) log.info({ event: 'storage-checked', store, path, entries: check.entries, ms: check.ms }, `${store} store read through in ${check.ms} ms (${check.entries} entries)`);
  } catch (err) {
    if (!(err instanceof StoreDamagedError)) throw err;
    const remedy = `move ${path} away and start the node again: it comes back with an empty ${store} store${store === 'replica' ? ' under a new identity, and read repair and anti-entropy refill it' : ', and the hints in it are lost (anti-entropy repairs what they would have)'}`;
    log.fatal({ event: 'storage-damaged', store, path, reason: err.reason }, `${err.message}; ${remedy}`);
    throw new Error(`${err.message}; ${remedy}`, { cause: err });
  }
}

const TABLE_REMEDY = 'move it away and start the node again: it then receives its partitions again from the other replicas';

export function loadTable(file: string, q: number): PartitionTable {
  const raw = readStateFile(file, TABLE_REMEDY);
  if (raw === undefined) return [];
  if (!isPartitionTable(raw, q)) throw new StateFileError(file, `not a partition table for Q=${q}`, TABLE_REMEDY);
  return raw;
}
