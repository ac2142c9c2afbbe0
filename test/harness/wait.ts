import { setTimeout as sleep } from 'node:timers/promises';
import { pollUntil } from '../../src/pollUntil.ts';

/** Polling for a condition with a deadline: tests never sleep in place of a condition. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  let lastError: unknown;
  // A probe that throws has not seen the condition yet: it is asked again, its error kept for the message.
  const guarded = async (): Promise<T | undefined | false> => {
    try {
      return await probe();
    } catch (err) {
      lastError = err;
      return undefined;
    }
  };
  const v = await pollUntil(guarded, { deadlineMs: Date.now() + timeoutMs, intervalMs: opts.intervalMs ?? 50, now: Date.now, sleep });
  if (v === undefined) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? `: last error ${(lastError as Error).message}` : ''}`);
  return v;
}
