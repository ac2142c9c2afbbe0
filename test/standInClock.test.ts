import test from 'ava';
import type { DkvClient } from '../src/client/client.ts';
import { STAND_IN_ENTRIES_IDLE_MAX } from '../src/clockBounds.ts';
import { decodeContext } from '../src/context.ts';
import { startSplitCluster } from './harness/splitCluster.ts';
import { ringOf } from './harness/replicas.ts';
import { waitFor } from './harness/wait.ts';

const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
const sideA = new Set(['n1', 'n2']);
const ring = ringOf(members);
const owners = (key: string) => [...ring.replicas(ring.partitionOf(key), 3)];
const STAND_IN_WRITES = 90;

/** Read, union the siblings' sets, add one element, write back with the read's context. */
async function addElement(client: DkvClient, key: string, element: string): Promise<void> {
  const read = await client.get(key);
  const set = new Set<string>(read.values.flatMap((v: string) => JSON.parse(v) as string[]));
  set.add(element);
  await client.put(key, JSON.stringify([...set].sort()), read.values.length > 0 || read.context ? { context: read.context } : {});
}

const elementsOf = (values: string[]) => new Set(values.flatMap((v) => JSON.parse(v) as string[]));

test('stand-in clock - 90 stand-in writes to one key in a partition keep its clock bounded; after healing it reads, writes and peeks everywhere with nothing lost', async (t) => {
  const { pair, nodes, a, b } = await startSplitCluster(t, members, sideA, 5_000);

  // Every owner on side B: side A can only write it through stand-ins.
  const key = Array.from({ length: 500 }, (_, i) => `hot.key *${i}`).find((k) => owners(k).every((o) => !sideA.has(o)))!;
  t.truthy(key);
  const acked: string[] = [];
  await addElement(a, key, 'before');
  acked.push('before');

  pair.partition();
  await pair.waitPartitioned();
  for (let i = 0; i < STAND_IN_WRITES; i++) {
    await addElement(a, key, `a${i}`);
    acked.push(`a${i}`);
  }
  for (let i = 0; i < 5; i++) {
    await addElement(b, key, `b${i}`);
    acked.push(`b${i}`);
  }
  // During the partition, side A's version already has a bounded clock.
  const duringA = await a.get(key);
  t.true(decodeContext(duringA.context).length <= 2 + STAND_IN_ENTRIES_IDLE_MAX + 1, `side A's context has ${decodeContext(duringA.context).length} entries`);

  pair.heal();
  await pair.waitRouted();
  await waitFor(
    'the hints handed off and every owner holding the same version set',
    async () => {
      const s = await a.status();
      if (!s.members.every((m: any) => m.state === 'up' && m.backlog?.hints === 0)) return false;
      const peeks = await Promise.all(owners(key).map((o) => a.peek(o, key)));
      return peeks.every((p) => p.context === peeks[0]!.context && p.values.length === 2);
    },
    { timeoutMs: 60_000, intervalMs: 250 },
  );

  const entriesMax = members.length + STAND_IN_ENTRIES_IDLE_MAX;
  for (const client of [a, b]) {
    const got = await client.get(key, { r: 3 });
    t.is(got.values.length, 2, 'one sibling per side');
    const entries = decodeContext(got.context);
    t.true(entries.length <= entriesMax, `${entries.length} clock entries, at most ${entriesMax}`);
    const have = elementsOf(got.values);
    for (const e of acked) t.true(have.has(e), `acknowledged element ${e} survives`);
  }
  for (const o of owners(key)) t.deepEqual(elementsOf((await a.peek(o, key)).values), elementsOf((await b.get(key, { r: 3 })).values), `peek on ${o}`);

  // Written through each node in turn, with the context of the read before it: one value each time.
  for (const n of members) {
    const client = sideA.has(n) ? a : b;
    const read = await client.get(key, { r: 3 });
    const next = [...elementsOf(read.values), `via-${n}`].sort();
    const reply = await client.raw(`dkv.local.node.${n}.batch`, { ops: [{ op: 'put', key, value: JSON.stringify(next), context: read.context }] });
    t.true(reply.results?.[0]?.ok, `put through ${n}: ${JSON.stringify(reply)}`);
    const after = await client.get(key, { r: 3 });
    t.deepEqual(after.values.map((v: string) => JSON.parse(v)), [next], `after the put through ${n}`);
    t.true(decodeContext(after.context).length <= entriesMax);
  }
  t.true(nodes.every((n) => n.running));
  for (const n of nodes) t.deepEqual(n.supervisionLines(), [], `${n.id} made no supervision decision`);
});
