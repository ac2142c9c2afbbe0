/**
 * Children a test process started are killed when it exits, even when ava ends it on a timeout
 * before any teardown ran: otherwise orphaned nodes and servers outlive the run.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let installed = false;

export function reapOnExit(child: ChildProcess): void {
  if (!installed) {
    installed = true;
    process.once('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}
