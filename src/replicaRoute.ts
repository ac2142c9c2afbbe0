/**
 * Where one operation of a peer's replica batch goes on this node: the decisions of the replica
 * server, pure (actors/node.ts performs them). Inputs are what the node knows when the operation
 * arrives: whether it holds the partition, the partition's replicas under its own ring, the
 * members, and whether the sender planned with an older ring (`stale`: the sender's name).
 *
 * - A read is answered from this node's copy when it holds one; otherwise, for a stale sender, by
 *   a replica under this ring; otherwise from the hints kept here for the owners.
 * - A write of a stale sender also goes to the replicas the sender did not know of, so a write
 *   made during a transfer reaches the new replica even after the old one let go. Without a copy
 *   here, those replicas' answer is the answer.
 * - A write naming owners to keep it for (`h`: the sender's unreachable owners) is kept as a
 *   hint for those that are members; when this node also holds the partition, the replica's
 *   answer is the one a quorum counts.
 */

export type ReadRoute = { kind: 'local' } | { kind: 'forward'; to: string } | { kind: 'hints'; owners: readonly string[] };

export type WriteRoute =
  | { kind: 'refuse'; error: string }
  /** Apply here; also send to `forwardTo` (not awaited) and keep a hint for `hintFor` (its refusal only logged). */
  | { kind: 'apply'; forwardTo: readonly string[]; hintFor: readonly string[] }
  /** No copy here: the first ok of `to` (or the last answer) is the answer. */
  | { kind: 'forward'; to: readonly string[] }
  /** No copy here: keep it as a hint for `owners`; that is the answer. */
  | { kind: 'hint'; owners: readonly string[] };

export interface RouteContext {
  readonly self: string;
  readonly partition: number;
  /** This node holds a replica (a vnode) of the partition. */
  readonly owns: boolean;
  /** The partition's replicas under this node's ring; asked only off the common path (it allocates). */
  replicas(): readonly string[];
  /** The sender, when it planned with an older ring than this node's. */
  readonly stale: string | undefined;
}

/** `isUp`: the failure detector's word on a node. */
export function routeRead(c: RouteContext, isUp: (node: string) => boolean): ReadRoute {
  if (c.owns) return READ_HERE;
  if (c.stale !== undefined) {
    // The sender's ring still has this node as a replica: ask one that is, under this ring.
    const to = c.replicas().find((x) => x !== c.self && x !== c.stale && isUp(x));
    if (to !== undefined) return { kind: 'forward', to };
  }
  return { kind: 'hints', owners: c.replicas() };
}

/** `hintOwners`: the owners the sender asked this node to keep the write for; `members`: the view's members. */
export function routeWrite(c: RouteContext, hintOwners: readonly string[] | undefined, members: readonly string[], ringVersion: number): WriteRoute {
  const hints = hintOwners ? hintOwners.filter((o) => members.includes(o) && o !== c.self) : NONE;
  let forwardTo: readonly string[] = NONE;
  if (c.stale !== undefined && hints.length === 0) {
    const targets = c.replicas().filter((x) => x !== c.self && x !== c.stale);
    if (!c.owns) {
      return targets.length === 0 ? { kind: 'refuse', error: `${c.self} holds no replica of partition ${c.partition}` } : { kind: 'forward', to: targets };
    }
    forwardTo = targets;
  }
  if (!c.owns && hints.length === 0) {
    return { kind: 'refuse', error: `${c.self} holds no replica of partition ${c.partition} (ring ${ringVersion}) and was given no owner to keep it for` };
  }
  if (!c.owns) return { kind: 'hint', owners: hints };
  if (forwardTo === NONE && hints === NONE) return APPLY_HERE;
  return { kind: 'apply', forwardTo, hintFor: hints };
}

const NONE: readonly string[] = Object.freeze([]);
const READ_HERE: ReadRoute = Object.freeze({ kind: 'local' });
/** The common case, one object for every write: a replica write of a current sender. */
const APPLY_HERE: WriteRoute = Object.freeze({ kind: 'apply', forwardTo: NONE, hintFor: NONE });
