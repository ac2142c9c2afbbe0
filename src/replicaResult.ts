/**
 * What one replica answered to one operation, as the request cores (src/getCore.ts,
 * src/writeCore.ts) fold it. Here rather than beside the vnode so that the rules need no actor.
 */
import type { StoredClock } from './replica.ts';

/**
 * `unreachable` says why a peer did not answer, for the failure detector. `same`: a read whose
 * asker sent its own copy's digest found the same version set here, and answers without sending
 * it (`clock` is then null).
 */
export type ReplicaResult = { ok: true; clock: StoredClock | null; same?: true } | { ok: false; error: string; unreachable?: 'no-responders' | 'timeout' };

/**
 * The refusals a replica's `error` can name, which the coordinator treats apart from a failure:
 * `overloaded` (busy, not gone: the client may retry) and `too_large` (the write can never be
 * made). On the wire between nodes a refusal is its error string, "<code>: <message>", so that a
 * peer of another version still reads it as an error; `refusal` writes that form and
 * `refusalOf` reads it, here only.
 */
export type RefusalCode = 'overloaded' | 'too_large';
const REFUSAL_CODES: readonly RefusalCode[] = ['overloaded', 'too_large'];

export function refusal(code: RefusalCode, message: string): string {
  return `${code}: ${message}`;
}

/** The refusal an error string names, with its message; undefined for any other error. */
export function refusalOf(error: string): { code: RefusalCode; message: string } | undefined {
  const colon = error.indexOf(': ');
  if (colon < 0) return undefined;
  const code = REFUSAL_CODES.find((c) => c.length === colon && error.startsWith(c));
  return code === undefined ? undefined : { code, message: error.slice(colon + 2) };
}

/**
 * A read answered `same` as its asker's copy, which was not sent back: that copy, or a refusal
 * when the asker sent no digest for it to be the same as.
 */
export function sameAsLocal(node: string, digestSent: boolean, local: StoredClock | null): ReplicaResult {
  return digestSent ? { ok: true, clock: local } : { ok: false, error: `${node} answered "same" to a read that sent no digest` };
}
