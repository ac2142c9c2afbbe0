/**
 * What `dkv join` and `dkv leave` must satisfy before a change is staged (the claimant commits
 * it; src/membership.ts). Pure: the caller asks the node to join whether it answers at all.
 */
import { isValidName } from './subjects.ts';
import { memberOf, type View } from './membership.ts';

/** Why `node` is not a node name, or undefined. */
export function badNodeName(node: string): string | undefined {
  return isValidName(node) ? undefined : `node name ${JSON.stringify(node)} must be 1..64 characters of A-Z a-z 0-9 _ -`;
}

/**
 * Why `node` may not leave now, or undefined: the members that would stay in the ring (valid or
 * joining) must still be at least N, or some keys would have fewer than N replicas.
 */
export function leaveRefusal(view: View | undefined, node: string, n: number): string | undefined {
  if (view === undefined || memberOf(view, node) === undefined) return undefined;
  const staying = view.members.filter((m) => m.node !== node && view.ring.nodes.includes(m.node) && (m.status === 'valid' || m.status === 'joining'));
  return staying.length < n ? `${node} cannot leave: ${staying.length} nodes would remain for N=${n} replicas` : undefined;
}
