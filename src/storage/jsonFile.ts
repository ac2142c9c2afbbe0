import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes `value` as JSON so that a reader (or a restart after a crash, or a power loss) sees
 * either the old file or the new one, never half of it and never neither: a temporary file,
 * fsynced, renamed over the old one, and the directory fsynced so that the rename itself is on
 * disk. Used for the small state files next to the stores (membership view, partition table,
 * store identity, stand-in epoch).
 */
export function writeJsonAtomic(file: string, value: unknown): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, JSON.stringify(value));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
