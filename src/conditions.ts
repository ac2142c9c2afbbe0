/**
 * Conditional writes (`"if"` on put and delete, DESIGN.md §3): the decision, as a pure function
 * of what a quorum read of the key answered.
 *
 * The guarantee is a Dynamo store's, not a consensus store's: the condition is checked by the
 * coordinating node against the replicas that answer its read (W of them, the write's own
 * quorum), and the write follows. Another write can land in between, and two conditional writes
 * on different sides of a partition can both pass; their versions then meet as siblings, which a
 * reader resolves as always. What the check does promise: a write refused with `conflict` was
 * applied nowhere, and a conditional write that passed saw no live version it did not know of.
 */
import { decodeContext } from './context.ts';
import { DkvError, errorReply } from './errors.ts';
import type { WriteCondition } from './protocol.ts';
import { descends, type VersionVector } from './versionVector.ts';

/** What the read answered, as far as the condition needs it: a get reply or an error reply. */
export interface ReadAnswer {
  readonly found?: unknown;
  readonly values?: unknown;
  readonly context?: unknown;
  readonly error?: unknown;
}

export type ConditionVerdict =
  /** The condition holds: write with this context (it covers every version the read saw). */
  | { readonly ok: true; readonly context: VersionVector }
  /** It does not (`conflict`), or the read failed (its error reply, passed on as is). */
  | { readonly ok: false; readonly reply: object };

export function checkCondition(condition: WriteCondition, clientContext: VersionVector | undefined, read: ReadAnswer): ConditionVerdict {
  if (read.error !== undefined) return { ok: false, reply: read };
  const values = Array.isArray(read.values) ? read.values.length : 0;
  const readContext = decodeContext(read.context);
  if (condition === 'absent') {
    if (read.found === true) return conflict(`"if": "absent", but the key has ${values} current ${values === 1 ? 'value' : 'values'}`);
    // Written over what the read saw (tombstones, expired versions), so none of it stays a sibling.
    return { ok: true, context: readContext };
  }
  if (clientContext === undefined || !descends(clientContext, readContext)) {
    return conflict(`"if": "current", but the key changed since that context was read: it has ${values} current ${values === 1 ? 'value' : 'values'}; read it again`);
  }
  return { ok: true, context: clientContext };
}

function conflict(message: string): ConditionVerdict {
  return { ok: false, reply: errorReply(new DkvError('conflict', message)) };
}
