/**
 * A routing client on a cluster where every node holds every key (3 nodes, N=3) sends each
 * turn's batch to the node with the fewest of its operations in flight, instead of letting the
 * queue group pick one at random. Observed through each node's `requests.batches` in `status`.
 */
import test from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { DkvClient } from '../src/client/client.ts';
import { contextCoordinator } from '../src/context.ts';
import { subjectsFor } from '../src/subjects.ts';
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

test.serial('balancing - three turns in flight at once land one on each node, every time', async (t) => {
  const client = await DkvClient.connect({ servers: cluster.nats.url, routing: true });
  t.teardown(() => client.close());
  t.true(client.ringVersion !== undefined, 'the ring is known once connected');
  await Promise.all(Array.from({ length: 30 }, (_, i) => client.put(`balanced-${i}`, `v${i}`)));
  // With the queue group's random pick, three batches land on three nodes 2 times in 9: five
  // rounds in a row would pass by chance about once in 2,000 runs.
  for (let round = 0; round < 5; round++) {
    const before = await batchesByNode();
    const turns: Array<Promise<unknown>> = [];
    for (let turn = 0; turn < 3; turn++) {
      turns.push(Promise.all(Array.from({ length: 10 }, (_, i) => client.get(`balanced-${turn * 10 + i}`))));
      // The client sends a turn's calls as one batch once the turn is over.
      await nextTurn();
    }
    const replies = (await Promise.all(turns)).flat() as Array<{ values: string[] }>;
    t.deepEqual(replies.map((r) => r.values), Array.from({ length: 30 }, (_, i) => [`v${i}`]));
    const after = await batchesByNode();
    t.deepEqual([...after].map(([node, n]) => [node, n - (before.get(node) ?? 0)]).sort(), [['n1', 1], ['n2', 1], ['n3', 1]], `round ${round}`);
  }
});

test.serial('balancing - writes whose contexts all name one node are balanced too: on 3 nodes a hint saves no hop', async (t) => {
  const client = await DkvClient.connect({ servers: cluster.nats.url, routing: true });
  t.teardown(() => client.close());
  const keys = Array.from({ length: 30 }, (_, i) => `hinted-${i}`);
  await Promise.all(keys.map((k) => client.put(k, 'a')));
  // Reads through one node: every context names the node that answered first, most often that one.
  const reader = await DkvClient.connect({ servers: cluster.nats.url });
  t.teardown(() => reader.close());
  const reads = await Promise.all(keys.map((k) => reader.raw(subjectsFor('local').nodeBatch('n1'), { ops: [{ op: 'get', key: k }] })));
  const contexts = reads.map((r) => r.results[0].context as string);
  t.true(contexts.filter((c) => contextCoordinator(c) === 'n1').length >= 20, `most contexts name n1: ${contexts.map(contextCoordinator).join(',')}`);
  for (let round = 0; round < 3; round++) {
    const before = await batchesByNode();
    const turns: Array<Promise<unknown>> = [];
    for (let turn = 0; turn < 3; turn++) {
      turns.push(Promise.all(keys.slice(turn * 10, turn * 10 + 10).map((k, i) => client.put(k, `r${round}`, { context: contexts[turn * 10 + i]! }))));
      await nextTurn();
    }
    const replies = (await Promise.all(turns)).flat() as Array<{ ok: boolean; context: string }>;
    t.true(replies.every((r) => r.ok));
    replies.forEach((r, i) => (contexts[i] = r.context));
    const after = await batchesByNode();
    t.deepEqual([...after].map(([node, n]) => [node, n - (before.get(node) ?? 0)]).sort(), [['n1', 1], ['n2', 1], ['n3', 1]], `round ${round}`);
  }
  for (const k of keys) t.deepEqual((await client.get(k, { r: 3 })).values, ['r2']);
});

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
