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
 * A read answered `same` as its asker's copy, which was not sent back: that copy, or a refusal
 * when the asker sent no digest for it to be the same as.
 */
export function sameAsLocal(node: string, digestSent: boolean, local: StoredClock | null): ReplicaResult {
  return digestSent ? { ok: true, clock: local } : { ok: false, error: `${node} answered "same" to a read that sent no digest` };
}
