/**
 * Read repair and a store that lost its data, with anti-entropy off so that only reads repair:
 * after n1 loses its disk, an r=3 get answers the right value at once and puts it back on n1,
 * reads of agreeing replicas write nothing, and blind writes coordinated by the emptied node are
 * not lost (it versions under a new identity: Riak's kv679).
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  // Read repair alone: no anti-entropy, and a node that lost its disk does not rebuild by transfer
  // (test/rebuild.test.ts has that).
  cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--ae-interval-ms', '0', '--no-rebuild'] });
});

test.after.always(async () => {
  await cluster?.stop();
});

const readRepairs = async (): Promise<number> => (await cluster.client.status()).members.reduce((sum: number, m: any) => sum + (m.requests?.readRepairs ?? 0), 0);
const actorIdOf = async (id: string): Promise<string> => (await cluster.client.status()).members.find((m: any) => m.node === id).actorId;

/** SIGKILL, delete the node's whole data directory, start it again. */
async function loseDisk(id: string): Promise<void> {
  const node = cluster.node(id);
  await node.kill('SIGKILL');
  rmSync(join(cluster.dir, id), { recursive: true, force: true });
  await node.start();
}

test.serial('read repair - replicas that agree are not written to; a node that lost its data gets a key back from an r=3 read', async (t) => {
  const keys = Array.from({ length: 40 }, (_, i) => `rr-${i}`);
  for (const k of keys) await cluster.client.put(k, `${k}-v`, { w: 3 });
  // Versions younger than a second are left to their own replication: wait that out first.
  await new Promise((r) => setTimeout(r, 1100));
  const before = await readRepairs();
  for (const k of keys) t.deepEqual((await cluster.client.get(k, { r: 3 })).values, [`${k}-v`]);
  t.is(await readRepairs(), before, 'reads of agreeing replicas repair nothing');

  const oldIdentity = await actorIdOf('n1');
  await loseDisk('n1');
  t.not(await actorIdOf('n1'), oldIdentity, 'a store that lost its data versions under a new identity');
  for (const k of keys) t.deepEqual((await cluster.client.peek('n1', k)).values, [], `${k} gone from n1`);

  const got = await cluster.client.get('rr-0', { r: 3 });
  t.deepEqual(got.values, ['rr-0-v'], 'the read answers from the replicas that have it, at once');
  await waitFor('read repair to put rr-0 back on n1', async () => (await cluster.client.peek('n1', 'rr-0')).values[0] === 'rr-0-v', { timeoutMs: 5_000 });
  t.true((await readRepairs()) > before);
  // Only what was read is repaired: anti-entropy is off here.
  t.deepEqual((await cluster.client.peek('n1', 'rr-1')).values, []);
  t.log(`read repairs counted: ${(await readRepairs()) - before}`);
});

test.serial('kv679 - blind writes after a node lost its data are not lost, wherever they were coordinated', async (t) => {
  const keys = Array.from({ length: 60 }, (_, i) => `blind-${i}`);
  for (const k of keys) await cluster.client.put(k, 'before');
  await loseDisk('n2');
  const writesBefore = (await cluster.client.status()).members.find((m: any) => m.node === 'n2').requests.writes;
  // No context: each is a new sibling, coordinated by whichever node takes the request.
  for (const k of keys) await cluster.client.put(k, 'after');
  const coordinatedByN2 = (await cluster.client.status()).members.find((m: any) => m.node === 'n2').requests.writes - writesBefore;
  t.true(coordinatedByN2 > 0, 'the emptied node coordinated some of the writes');
  for (const k of keys) {
    const got = await cluster.client.get(k, { r: 3 });
    t.deepEqual([...got.values].sort(), ['after', 'before'], `${k}: both blind writes survive`);
  }
  t.log(`${coordinatedByN2} of ${keys.length} blind writes were coordinated by the node that had lost its data`);
});
