import { decodeContext } from '../../src/context.ts';

/**
 * A reply with its context as the version vector it carries. A get's context also names the
 * replica that answered first (the next write's coordinator, src/context.ts), which may differ
 * from read to read of the same data: tests that check that nothing changed compare this.
 */
export function withVector<T>(reply: T): T {
  const r = reply as { context?: unknown };
  return r && typeof r.context === 'string' ? ({ ...r, context: decodeContext(r.context) } as T) : reply;
}
