/**
 * Where a new membership view lands on this node. The membership actor only knows views; this
 * file turns one into the node's ring, the peers its failure detector watches and the partitions
 * it starts receiving or giving away, by the pure rules of src/viewRules.ts.
 */
import type { Logger } from 'pino';
import type { Change, View } from '../src/membership.ts';
import { plan, type PlanMode } from '../src/partitionTable.ts';
import { Ring } from '../src/ring.ts';
import { ownChanges, pullSources } from '../src/viewRules.ts';
import type { Health } from './health.ts';
import type { PartitionTableFile } from './store.ts';

/**
 * The ring this node routes by, as the last view set it: undefined until this node is in one.
 * Read by every part of the node on every operation, written only here.
 */
export interface NodeRing {
  ring: Ring | undefined;
  version: number;
  /** Members of the view not removed; recomputed once per view, read on every replica write. */
  members: readonly string[];
}

export const noRingYet = (): NodeRing => ({ ring: undefined, version: -1, members: [] });

export interface ViewChangeDeps {
  readonly id: string;
  readonly n: number;
  readonly log: Logger;
  readonly placement: NodeRing;
  readonly partitions: PartitionTableFile;
  /** How the first ring this node sees is planned (src/viewRules.ts firstPlanMode); then always 'follow'. */
  readonly firstPlan: PlanMode;
  readonly health: Health;
  /** A vnode for every partition the table holds (actors/localReplica.ts). */
  ensureVnode(p: number): void;
  hintsHeld(): number;
  /** Called after every view: the node starts serving clients once it has a ring. */
  onRing(): void;
}

export function viewChanges(deps: ViewChangeDeps): { onView(next: View): void; ownChanges(v: View): Change[] } {
  const { id, n, log, placement, partitions } = deps;
  let firstPlan = deps.firstPlan;

  const onView = (next: View) => {
    placement.members = next.members.filter((m) => m.status !== 'removed').map((m) => m.node);
    const previous = placement.ring;
    if (previous === undefined || placement.version !== next.ring.version || previous.assignment.join() !== next.ring.assignment.join()) {
      placement.ring = new Ring(next.ring.assignment);
    }
    placement.version = next.ring.version;
    deps.health.setPeers(placement.members);
    const current = placement.ring!;
    const ringVersion = placement.version;
    const replicas = next.ring.nodes.includes(id) ? current.replicaPartitions(id, n) : [];
    const table = partitions.table;
    const planned = plan(
      table,
      replicas,
      (p) => pullSources(previous, current, p, n, id),
      (p) => current.preferenceList(p).filter((x) => x !== id),
      firstPlan,
    );
    if (firstPlan === 'rebuild' && planned.receive.length > 0) {
      log.info(
        { event: 'store-rebuild', partitions: planned.receive.length, heldBefore: table.length },
        `new store where the ring places ${planned.receive.length} partitions here: pulling them from the other replicas (a brand-new cluster settles at once)`,
      );
    }
    firstPlan = 'follow';
    partitions.set(planned.table);
    for (const h of partitions.table) deps.ensureVnode(h.partition);
    if (planned.receive.length > 0 || planned.give.length > 0) {
      log.info({ event: 'partitions-planned', ringVersion, receive: planned.receive, give: planned.give }, `ring ${ringVersion}: receiving ${planned.receive.length} partitions, giving ${planned.give.length}`);
    }
    deps.onRing();
  };

  return { onView, ownChanges: (v) => ownChanges(v, id, partitions.table, deps.hintsHeld()) };
}
