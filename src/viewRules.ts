/**
 * The rules a node applies to itself when the membership view changes: how it plans the first
 * ring it sees, whom it pulls a partition from, and which changes it owes the view. Pure, so
 * they can be read and tested apart from the actor that applies them (actors/viewChanges.ts).
 */
import { memberOf, type Change, type View } from './membership.ts';
import type { PartitionTable, PlanMode } from './partitionTable.ts';
import type { Ring } from './ring.ts';

/**
 * How the first ring this node sees is planned (every later one is 'follow'). A store created by
 * this start (a first start, or a lost disk: the two look alike) holds nothing, whatever the
 * table says, so it rebuilds every partition it replicates from the other replicas; `--no-rebuild`
 * trusts a table of a static first ring instead; a joiner always follows its ring.
 */
export function firstPlanMode(storeExisted: boolean, rebuild: boolean, staticMembers: boolean): PlanMode {
  return storeExisted ? 'follow' : rebuild ? 'rebuild' : staticMembers ? 'trust' : 'follow';
}

/**
 * Whom `self` pulls partition `p` from: the former replicas, the ones that stop replicating it
 * first, since pulling from them takes the load off the nodes that keep serving the partition.
 */
export function pullSources(previous: Ring | undefined, current: Ring, p: number, n: number, self: string): string[] {
  const before = previous ? previous.replicas(p, n).filter((x) => x !== self) : [];
  const now = current.replicas(p, n);
  return [...before.filter((x) => !now.includes(x)), ...before.filter((x) => now.includes(x))];
}

/** What `self` owes the view: valid once it holds all it replicates, exited once it holds nothing. */
export function ownChanges(v: View, self: string, table: PartitionTable, hintsHeld: number): Change[] {
  const me = memberOf(v, self);
  if (!me) return [];
  const inRing = v.ring.nodes.includes(self);
  if (me.status === 'joining' && inRing && !table.some((h) => h.state === 'receiving')) return [{ kind: 'markValid', node: self }];
  if (me.status === 'leaving' && !inRing && table.length === 0 && hintsHeld === 0) return [{ kind: 'markExited', node: self }];
  return [];
}
