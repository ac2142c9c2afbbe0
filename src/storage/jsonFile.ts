import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes `value` as JSON so that a reader (or a restart after a crash) sees either the old file
 * or the new one, never half of it: a temporary file renamed over the old one. Used for the small
 * state files next to the stores (membership view, partition table, store identity).
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}
