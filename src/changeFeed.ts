/**
 * The change feed (DESIGN.md §3): after a write reaches its quorum, the coordinating node publishes
 * the key's version set as it made it on `dkv.<cluster>.changes.<partition>`. Keys never go in the
 * subject (they are opaque); the partition does, so a subscriber may take a share of the feed.
 *
 * Delivery is core NATS: at most once, nothing kept. A subscriber that was away, slow or cut off
 * misses events; it catches up by listing the keys (`dkv.<cluster>.keys`) and reading them. The
 * event shows the coordinator's version set right after the write, siblings included, which is
 * what a read at that moment could at least see; a concurrent write coordinated elsewhere comes as
 * an event of its own.
 */
import { encodeValue, type Encoding } from './protocol.ts';
import { liveValuesAt, readContext, type StoredClock } from './replica.ts';

export interface ChangeEvent {
  readonly key: string;
  /** Every live version after the write (siblings), none when it was a delete. */
  readonly values: string[];
  readonly context: string;
  /** No live value is left: the write was a delete (or every other version has expired). */
  readonly deleted: boolean;
  /** Present when the write was sent with base64: then `values` are base64 of the bytes. */
  readonly encoding?: 'base64';
}

export function changeEvent(key: string, clock: StoredClock, nowMs: number, encoding: Encoding): ChangeEvent {
  const values = liveValuesAt(clock, nowMs).map((v) => encodeValue(v, encoding));
  return { key, values, context: readContext(clock), deleted: values.length === 0, ...(encoding === 'base64' ? { encoding } : {}) };
}

/** An event as a subscriber receives it: anyone allowed to publish there could have sent it, so it is checked. */
export function parseChangeEvent(data: Uint8Array): ChangeEvent | undefined {
  let x: unknown;
  try {
    x = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(data));
  } catch {
    return undefined;
  }
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return undefined;
  const { key, values, context, deleted, encoding } = x as Record<string, unknown>;
  if (typeof key !== 'string' || typeof context !== 'string' || typeof deleted !== 'boolean') return undefined;
  if (!Array.isArray(values) || !values.every((v) => typeof v === 'string')) return undefined;
  if (encoding !== undefined && encoding !== 'base64') return undefined;
  return { key, values, context, deleted, ...(encoding === 'base64' ? { encoding } : {}) };
}

/** One line for people: `key = value`, `key = 2 siblings: a | b`, `key deleted`. */
export function formatChange(e: ChangeEvent): string {
  const key = /^[\x21-\x7e]+$/.test(e.key) ? e.key : JSON.stringify(e.key);
  if (e.deleted) return `${key} deleted`;
  const shown = e.values.map((v) => (/^[\x20-\x7e]*$/.test(v) && !v.includes(' | ') ? v : JSON.stringify(v)));
  return e.values.length === 1 ? `${key} = ${shown[0]}` : `${key} = ${e.values.length} siblings: ${shown.join(' | ')}`;
}
