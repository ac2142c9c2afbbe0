/** Checks shared by the membership tests: the cluster's settled state, seen through `status` and `peek`. */
import type { ExecutionContext } from 'ava';
import { DkvClient } from '../../src/client/client.ts';
import { Ring } from '../../src/ring.ts';
import type { TestCluster } from './cluster.ts';
import { waitFor } from './wait.ts';

/**
 * Waits until every listed node is a valid ring member, every node answers with the same ring
 * version, and no transfer is left (nothing being received or given away). Returns the status.
 */
export async function waitSettled(cluster: TestCluster, ring: readonly string[], opts: { timeoutMs?: number } = {}): Promise<any> {
  return waitFor(
    `ring ${ring.join(',')} settled with no transfer left`,
    async () => {
      const s = await cluster.client.status();
      const members = s.members.filter((m: any) => ring.includes(m.node));
      if (members.length !== ring.length) return false;
      if (!members.every((m: any) => m.state === 'up' && m.status === 'valid' && m.inRing)) return false;
      if ([...s.ring.nodes].sort().join() !== [...ring].sort().join()) return false;
      if (!members.every((m: any) => m.membership.ringVersion === s.ring.version)) return false;
      if (s.transfers.length > 0) return false;
      return s;
    },
    { timeoutMs: opts.timeoutMs ?? 60_000, intervalMs: 200 },
  );
}

/** For each key: which running nodes' own replicas hold exactly the expected value. */
export async function placement(cluster: TestCluster, expected: ReadonlyMap<string, string>): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const [key, value] of expected) {
    const on: string[] = [];
    for (const n of cluster.nodes) {
      if (!n.running) continue;
      const peek = await cluster.client.peek(n.id, key);
      if (peek.values.length > 0) {
        if (!sameValue(peek.values, value)) throw new Error(`${n.id} holds ${JSON.stringify(peek.values)} for ${key}, expected ${value}`);
        on.push(n.id);
      }
    }
    out.set(key, on.sort());
  }
  return out;
}

/** Keys whose holders are not exactly the replicas the final ring names. */
export function misplaced(status: any, where: ReadonlyMap<string, string[]>, n = 3): string[] {
  const ring = new Ring(status.ring.owners);
  const wrong: string[] = [];
  for (const [key, on] of where) {
    const want = [...ring.replicas(ring.partitionOf(key), n)].sort();
    if (JSON.stringify(want) !== JSON.stringify(on)) wrong.push(`${key}: on ${on.join(',')}, replicas ${want.join(',')}`);
  }
  return wrong;
}

/**
 * A writer that keeps writing fresh keys until stopped; it records what was acknowledged. Its own
 * client retries an attempt after 2 s on another node, as an application would: a request that
 * nats-server handed to a node at the moment it was SIGKILLed is otherwise lost to the client.
 */
export function backgroundWriter(cluster: TestCluster, prefix: string): { acked: Map<string, string>; failures: string[]; stop(): Promise<void> } {
  const acked = new Map<string, string>();
  const failures: string[] = [];
  let running = true;
  const loop = (async () => {
    const client = await DkvClient.connect({ servers: cluster.nats.url, cluster: 'local', attemptTimeoutMs: 2000 });
    try {
      await writeUntilStopped(client);
    } finally {
      await client.close();
    }
  })();
  async function writeUntilStopped(client: DkvClient): Promise<void> {
    for (let i = 0; running; i++) {
      const key = `${prefix}-${i}`;
      const value = `${key}-value`;
      try {
        await client.put(key, value);
        acked.set(key, value);
      } catch (err) {
        failures.push(`${key}: ${(err as Error).message}`);
      }
    }
  }
  return {
    acked,
    failures,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

/**
 * Whether `values` is `value`, possibly more than once: a client that retries an attempt that
 * timed out (the writer here does, after 2 s) may have both attempts applied, as identical
 * siblings. That is at-least-once delivery without idempotency keys, not a lost or wrong write.
 */
export function sameValue(values: readonly string[], value: string): boolean {
  return values.length > 0 && values.every((v) => v === value);
}

/** Writes `count` keys `<prefix>-<i>` one by one; returns what each should hold. */
export async function writeKeys(cluster: TestCluster, prefix: string, count: number): Promise<Map<string, string>> {
  const expected = new Map<string, string>();
  for (let i = 0; i < count; i++) {
    const key = `${prefix}-${i}`;
    await cluster.client.put(key, `${key}-value`);
    expected.set(key, `${key}-value`);
  }
  return expected;
}

/**
 * Every key reads back its value (default quorum), and sits on exactly the N=3 replicas the
 * settled ring names, on no other node. Returns where each key is, for further checks.
 */
export async function checkData(t: ExecutionContext, cluster: TestCluster, settled: any, expected: ReadonlyMap<string, string>, opts: { r?: number } = {}): Promise<Map<string, string[]>> {
  for (const [key, value] of expected) {
    const got = await cluster.client.get(key, opts.r !== undefined ? { r: opts.r } : {});
    t.true(sameValue(got.values, value), `${key}: ${JSON.stringify(got.values)}`);
  }
  const where = await placement(cluster, expected);
  t.deepEqual(misplaced(settled, where), [], 'every key on exactly its 3 replicas');
  return where;
}
