/**
 * `dkv join|leave ID --wait`: polls `status` until the ring has changed and no partition is
 * moving, showing the progress (src/cli/handoffProgress.ts) as a bar redrawn in place on a
 * terminal, or as a plain line every few seconds elsewhere.
 */
import type { DkvClient } from '../client/client.ts';
import { handoffProgress, renderProgress, watchHandoff, type HandoffGoal } from './handoffProgress.ts';

const POLL_MS = 500;
/** How often a plain (not a terminal) output prints a line. */
const PLAIN_LINE_EVERY_MS = 2_000;
/** A wait gives up after this long; the change goes on regardless, and `dkv status` shows it. */
export const HANDOFF_WAIT_MS_MAX = 60 * 60 * 1000;

export async function waitHandoff(client: DkvClient, goal: HandoffGoal, out: NodeJS.WriteStream = process.stdout): Promise<void> {
  const terminal = out.isTTY === true;
  const startedMs = Date.now();
  const watch = watchHandoff(goal, await client.status(), startedMs);
  let lastPlainMs = 0;
  for (;;) {
    const now = Date.now();
    if (now - startedMs > HANDOFF_WAIT_MS_MAX) throw new Error(`gave up waiting after ${HANDOFF_WAIT_MS_MAX / 60_000} min; the ${goal.kind} goes on (dkv status shows it)`);
    const status = await client.status().catch(() => undefined);
    if (status !== undefined) {
      const p = handoffProgress(watch, status, now);
      const line = renderProgress(p, terminal);
      if (p.done) {
        out.write(terminal ? `\r\x1b[2K${line}\n` : `${line}\n`);
        return;
      }
      if (terminal) out.write(`\r\x1b[2K${line}`);
      else if (now - lastPlainMs >= PLAIN_LINE_EVERY_MS) {
        out.write(`${line}\n`);
        lastPlainMs = now;
      }
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}
