import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROBE = fileURLToPath(new URL('./lmdbProbe.mjs', import.meta.url));
/** lmdb writes two meta pages when it creates a store; a file shorter than that lost data. */
const META_PAGES_BYTES = 2 * 4096;
/** A store of millions of keys reads in seconds; past this the check itself is called stuck. */
const PROBE_TIMEOUT_MS = 10 * 60_000;

export class StoreDamagedError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`the lmdb store at ${path} is damaged (${reason})`);
    this.name = 'StoreDamagedError';
  }
}

export interface StoreCheck {
  /** false: no data file yet, nothing to read. */
  readonly checked: boolean;
  readonly entries: number;
  readonly ms: number;
}

/**
 * Reads a whole lmdb store in a child process before the node opens it. A store damaged on disk
 * (a torn page after a power loss with `--sync periodic`, a truncated file) can make lmdb crash
 * the process that reads it, which would take the node down with no word in its log, at start or
 * at the first unlucky read; this turns that into an error that names the store.
 * `identityFile`: dkv's file beside a store that has held data; with it, a data file that is
 * missing or shorter than lmdb's first two pages is damage, not a new store.
 */
export function checkLmdbStore(path: string, identityFile?: string): StoreCheck {
  const started = Date.now();
  const data = join(path, 'data.mdb');
  const size = existsSync(data) ? statSync(data).size : undefined;
  const hadData = identityFile !== undefined && existsSync(join(path, identityFile));
  if (size === undefined || size === 0) {
    if (hadData) throw new StoreDamagedError(path, size === undefined ? 'data.mdb is missing beside the identity of a store that existed' : 'data.mdb is empty');
    return { checked: false, entries: 0, ms: Date.now() - started };
  }
  if (size < META_PAGES_BYTES) throw new StoreDamagedError(path, `data.mdb is ${size} bytes, shorter than lmdb's two meta pages`);
  // Without the parent's NODE_OPTIONS: the probe needs no loader, profiler or debugger.
  const probe = spawnSync(process.execPath, [PROBE, path], { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env: { ...process.env, NODE_OPTIONS: '' } });
  // Not known to be damaged, nor sound: the node does not start on it, and says why.
  if (probe.error) throw new Error(`could not check the lmdb store at ${path}: ${probe.error.message}`, { cause: probe.error });
  if (probe.signal) throw new StoreDamagedError(path, `reading it crashed the reading process with ${probe.signal}`);
  if (probe.status !== 0) throw new StoreDamagedError(path, `lmdb: ${probe.stderr.trim().split('\n').pop() || `exit code ${probe.status}`}`);
  return { checked: true, entries: Number(probe.stdout.trim()), ms: Date.now() - started };
}
