/**
 * Shrinking a cluster while it serves: `dkv leave` of one of four nodes under writes. The leaver
 * hands every partition over, deletes its copies only once the new replicas confirm, leaves the
 * ring and exits; the remaining nodes hold 3 replicas of every key, and r=3 reads succeed with
 * the leaver gone.
 */
import test from 'ava';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { LmdbStorage } from '../src/storage/lmdb.ts';
import { TestCluster } from './harness/cluster.ts';
import { backgroundWriter, checkData, waitSettled, writeKeys } from './harness/membership.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 4 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('leave - a node leaves under writes: it hands everything over, exits, and every key keeps 3 replicas', async (t) => {
  const expected = await writeKeys(cluster, 'before', 300);
  const leaver = cluster.node('n4');
  const writer = backgroundWriter(cluster, 'during');
  await waitFor('writes before the leave', () => writer.acked.size >= 20, { timeoutMs: 30_000 });
  t.deepEqual(await cluster.client.leave('n4'), { ok: true });
  const exited = await waitFor('the leaver to exit', () => (leaver.running ? false : leaver.exit), { timeoutMs: 60_000, intervalMs: 200 });
  t.is(exited.code, 0, 'the leaver exits cleanly once it has handed everything over');
  await leaver.waitUnsubscribed();
  const settled = await waitSettled(cluster, ['n1', 'n2', 'n3']);
  await waitFor('more writes after the leave', () => writer.acked.size >= 100, { timeoutMs: 30_000 });
  await writer.stop();
  t.deepEqual(writer.failures, [], 'no write failed during the leave');
  for (const [k, v] of writer.acked) expected.set(k, v);

  // The leaver logged its exit, and left nothing behind it was responsible for.
  t.true(leaver.logs.some((l) => l.event === 'node-left'));
  const handedOff = leaver.logs.filter((l) => l.event === 'partition-handed-off');
  t.true(handedOff.length > 0);
  t.deepEqual(JSON.parse(readFileSync(join(cluster.dir, 'n4', 'partitions.json'), 'utf8')), [], 'the leaver holds no partition');
  const store = new LmdbStorage(join(cluster.dir, 'n4', 'store'));
  try {
    let left = 0;
    for (let p = 0; p < 64; p++) left += store.count(p);
    t.is(left, 0, 'the leaver deleted every copy it handed over');
  } finally {
    await store.close();
  }
  const n4 = settled.members.find((m: any) => m.node === 'n4');
  t.true(n4 === undefined || n4.status === 'exiting' || n4.status === 'removed', `n4 is ${n4?.status}`);

  await checkData(t, cluster, settled, expected, { r: 3 });
  t.log(`${expected.size} keys (${writer.acked.size} written during the leave); ${handedOff.length} partitions handed off by n4`);
});
