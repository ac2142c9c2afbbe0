/** Polling for a condition with a deadline: tests never sleep in place of a condition. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, opts: { timeoutMs?: number; intervalMs?: number } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  let lastError: unknown;
  for (;;) {
    // Read before the probe: only a probe begun after the deadline may end the wait (src/pollUntil.ts).
    const late = Date.now() > deadline;
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      lastError = err;
    }
    if (late) {
      throw new Error(`timed out after ${opts.timeoutMs ?? 20_000} ms waiting for ${what}${lastError ? `: last error ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 50));
  }
}
