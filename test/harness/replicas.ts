/** Replica placement checks shared by the fault tests: what every node's `peek` shows. */
import { initialAssignment, Ring } from '../../src/ring.ts';
import type { TestCluster } from './cluster.ts';

export function ringOf(members: readonly string[], q = 64): Ring {
  return new Ring(initialAssignment(members, q));
}

/**
 * Nodes whose own replicas (not hints) hold exactly `expected` (as a sorted set) for `key`,
 * asked of every running node.
 */
export async function holders(cluster: TestCluster, key: string, expected: readonly string[]): Promise<string[]> {
  const want = JSON.stringify([...expected].sort());
  const found: string[] = [];
  for (const n of cluster.nodes) {
    if (!n.running) continue;
    const peek = await cluster.client.peek(n.id, key);
    if (JSON.stringify([...peek.values].sort()) === want) found.push(n.id);
  }
  return found;
}

/** Sum of the hint backlogs the status reply reports for every reachable node. */
export async function hintBacklog(cluster: TestCluster): Promise<number> {
  const s = await cluster.client.status();
  return s.members.reduce((sum: number, m: any) => sum + (m.backlog?.hints ?? 0), 0);
}
