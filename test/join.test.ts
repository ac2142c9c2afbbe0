/**
 * Growing a cluster while it serves (Dynamo §4.9): two nodes join a three-node cluster under a
 * write load; afterwards every acknowledged write is readable and sits on exactly the N=3
 * replicas the final ring names, and the new nodes hold their share.
 */
import test from 'ava';
import { TestCluster } from './harness/cluster.ts';
import { backgroundWriter, checkData, waitSettled, writeKeys } from './harness/membership.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('join - membership requests that cannot be carried out are refused with a reason, and change nothing', async (t) => {
  const before = await cluster.client.status();
  const refused = async (op: Promise<unknown>, pattern: RegExp) => {
    const err = await t.throwsAsync(op);
    t.is((err as any).code, 'bad_request');
    t.regex(err!.message, pattern);
  };
  await refused(cluster.client.leave('n3'), /2 nodes would remain for N=3/);
  await refused(cluster.client.join('ghost'), /does not answer/);
  await refused(cluster.client.join('a.b'), /must be 1\.\.64 characters/);
  await refused(cluster.client.leave('nobody'), /not a member/);
  const after = await cluster.client.status();
  t.deepEqual(after.ring, before.ring);
  t.deepEqual(after.members.map((m: any) => [m.node, m.status]), before.members.map((m: any) => [m.node, m.status]));
});

test.serial('join - two nodes join under writes; nothing acknowledged is lost and every key ends on its N=3 replicas', async (t) => {
  const expected = await writeKeys(cluster, 'before', 300);
  const writer = backgroundWriter(cluster, 'during');
  const startedAt = Date.now();
  await Promise.all([cluster.addNode('n4', { join: 'n1' }), cluster.addNode('n5', { join: 'n1' })]);
  // Writes keep flowing while the ring changes and the partitions move.
  await waitFor('writes during the joins', () => writer.acked.size >= 50, { timeoutMs: 30_000 });
  const settled = await waitSettled(cluster, ['n1', 'n2', 'n3', 'n4', 'n5']);
  const settledMs = Date.now() - startedAt;
  await waitFor('more writes after the joins', () => writer.acked.size >= 100, { timeoutMs: 30_000 });
  await writer.stop();
  t.deepEqual(writer.failures, [], 'no write failed during the joins');
  for (const [k, v] of writer.acked) expected.set(k, v);

  const where = await checkData(t, cluster, settled, expected);
  const share = (id: string) => [...where.values()].filter((on) => on.includes(id)).length;
  // Each of five nodes replicates about 3/5 of the keys; the newcomers hold theirs.
  for (const id of ['n4', 'n5']) t.true(share(id) > expected.size * 0.3, `${id} holds ${share(id)} of ${expected.size} keys`);
  const owned = settled.members.map((m: any) => m.partitionsOwned).sort((a: number, b: number) => a - b);
  t.deepEqual(owned, [12, 13, 13, 13, 13], 'Q=64 spread as Q/S or Q/S+1');
  const received = cluster.nodes.flatMap((n) => n.logs.filter((l) => l.event === 'transfer-complete'));
  t.log(`${expected.size} keys (${writer.acked.size} written during the joins); ring settled ${settledMs} ms after the joins began; ${received.length} partition transfers, ${received.reduce((s, l) => s + l.keys, 0)} keys moved`);
});
