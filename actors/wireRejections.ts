/**
 * Internal messages that fail src/wire.ts's checks are dropped (or answered with an error) and
 * counted here; an operator sees them as `wire-rejected` warn lines, at most one per subject
 * kind per interval, with how many were rejected since the last line, so a flood of junk cannot
 * flood the log too.
 */
import type { Logger } from 'pino';

export const WIRE_WARN_INTERVAL_MS = 10_000;

export class WireRejections {
  readonly #lastLineAt = new Map<string, number>();
  readonly #since = new Map<string, number>();
  /** Rejected messages since start, by kind: a status figure. */
  readonly counts: Record<string, number> = {};

  constructor(
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  note(kind: string, reason: string): void {
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    const since = (this.#since.get(kind) ?? 0) + 1;
    const now = this.now();
    const last = this.#lastLineAt.get(kind);
    if (last !== undefined && now - last < WIRE_WARN_INTERVAL_MS) {
      this.#since.set(kind, since);
      return;
    }
    this.#lastLineAt.set(kind, now);
    this.#since.set(kind, 0);
    this.log.warn({ event: 'wire-rejected', kind, reason: reason.slice(0, 300), rejected: since }, `rejected ${since} malformed ${kind} message${since === 1 ? '' : 's'}: ${reason.slice(0, 300)}`);
  }
}
