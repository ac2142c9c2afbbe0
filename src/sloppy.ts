/**
 * Sloppy quorum (Dynamo §4.6): a request goes to the first N *reachable* nodes of the key's
 * preference list, walking past unreachable owners. Every owner left out gets a hint: one of
 * the stand-ins keeps its copy and hands it back when the owner returns. Pure.
 */
export interface Plan {
  /**
   * Nodes to ask: the reachable ones in preference order, then, when fewer than N are
   * reachable, nodes believed down to fill up to N (a view can be stale, and asking a node
   * that is really gone costs one immediate "no responders"). Invariant: distinct, length <= n.
   */
  readonly targets: readonly string[];
  /** For each stand-in target, the unreachable owners whose copies it keeps. */
  readonly hints: ReadonlyMap<string, readonly string[]>;
}

const NO_HINTS: ReadonlyMap<string, readonly string[]> = new Map();

export function plan(preferenceList: readonly string[], n: number, isUp: (node: string) => boolean): Plan {
  const owners = preferenceList.slice(0, n);
  // The common case, on every request: every owner is up.
  if (owners.every(isUp)) return { targets: owners, hints: NO_HINTS };
  const reachable = preferenceList.filter(isUp).slice(0, n);
  const missing = owners.filter((o) => !reachable.includes(o));
  const standIns = reachable.filter((t) => !owners.includes(t));
  const targets = [...reachable, ...preferenceList.filter((x) => !reachable.includes(x)).slice(0, n - reachable.length)];
  // Fewer reachable nodes than N (a partition): the reachable owners keep the hints themselves,
  // so every owner still gets every write once it is back.
  const keepers = standIns.length > 0 ? standIns : reachable;
  const hints = new Map<string, string[]>();
  if (keepers.length > 0) {
    missing.forEach((owner, i) => {
      const keeper = keepers[i % keepers.length]!;
      hints.set(keeper, [...(hints.get(keeper) ?? []), owner]);
    });
  }
  return { targets, hints };
}

/**
 * The next node to ask in place of a target that turned out unreachable: the first reachable
 * node of the preference list not asked yet, else the first one not asked at all. It keeps the failed node's hints, plus the failed
 * node's own copy when that node is an owner.
 */
export function replacement(
  preferenceList: readonly string[],
  n: number,
  asked: ReadonlySet<string>,
  failed: string,
  failedHints: readonly string[],
  isUp: (node: string) => boolean,
): { node: string; hints: string[] } | undefined {
  // Nodes believed down come last, not never: a view can be stale (a slow node looks gone), and
  // asking a node that really is gone costs one immediate "no responders".
  const node = preferenceList.find((x) => !asked.has(x) && isUp(x)) ?? preferenceList.find((x) => !asked.has(x));
  if (node === undefined) return undefined;
  const owners = preferenceList.slice(0, n);
  const hints = [...failedHints, ...(owners.includes(failed) ? [failed] : [])].filter((o) => o !== node);
  return { node, hints };
}
