/**
 * A routing client on a cluster where every node holds every key (3 nodes, N=3) sends each
 * turn's calls, reads and writes together, as one batch to the node with the fewest of its
 * operations in flight. Observed through each node's `requests.batches` in `status`. Which node
 * takes each of several batches in flight is tested with the sending held (test/batcher.test.ts):
 * on real nodes a batch may be answered before the next turn is sent.
 */
import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

/** Each node's count of batches it took; asked again until every node has answered with its own. */
async function batchesByNode(): Promise<Map<string, number>> {
  for (let attempt = 0; ; attempt++) {
    const members: Array<{ node: string; requests?: Record<string, number> }> = (await cluster.client.status()).members;
    const counts = members.filter((m) => typeof m.requests?.batches === 'number').map((m) => [m.node, m.requests!.batches!] as const);
    if (counts.length === 3 || attempt >= 20) return new Map(counts);
  }
}

test.serial('balancing - a turn of reads and writes travels as one batch to one node', async (t) => {
  const client = await DkvClient.connect({ servers: cluster.nats.url, routing: true });
  t.teardown(() => client.close());
  const keys = Array.from({ length: 20 }, (_, i) => `mixed-${i}`);
  await Promise.all(keys.map((k) => client.put(k, 'a')));
  for (let round = 0; round < 3; round++) {
    const before = await batchesByNode();
    const replies = await Promise.all(keys.map((k, i) => (i % 2 === 0 ? client.get(k) : client.put(k, `r${round}`))));
    t.is(replies.length, keys.length);
    const moved = [...(await batchesByNode())].map(([node, n]) => n - (before.get(node) ?? 0));
    t.deepEqual(moved.sort(), [0, 0, 1], `round ${round}: one batch in all`);
  }
  // The puts carry no context, so the odd keys hold every round's value as siblings.
  for (const [i, k] of keys.entries()) t.deepEqual((await client.get(k, { r: 3 })).values.sort(), i % 2 === 0 ? ['a'] : ['a', 'r0', 'r1', 'r2']);
});
