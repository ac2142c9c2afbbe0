/**
 * The small state files beside a node's stores (partition table, membership view): written
 * atomically and fsynced (src/storage/jsonFile.ts), and read back here. A file that is absent is
 * a node's first start; a file that is there but unreadable is damage, and the node stops with a
 * fatal line saying what to do, as it does for a damaged store: guessing (taking every partition
 * as complete, say) could serve an empty copy as if it were whole.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';

export class StateFileError extends Error {
  override readonly name = 'StateFileError';
  constructor(
    readonly file: string,
    readonly reason: string,
    readonly remedy: string,
  ) {
    super(`${file} is unreadable (${reason}); ${remedy}`);
  }
}

/** The parsed JSON of `file`, undefined when it does not exist; any other failure is a StateFileError. */
export function readStateFile(file: string, remedy: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new StateFileError(file, (err as Error).message, remedy);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new StateFileError(file, `not JSON: ${(err as Error).message}`, remedy);
  }
}

/** Runs `load`; a StateFileError becomes a fatal log line and an error with the same words. */
export function loadOrStop<T>(log: Logger, load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof StateFileError)) throw err;
    log.fatal({ event: 'state-file-unreadable', file: err.file, reason: err.reason }, err.message);
    throw err;
  }
}
