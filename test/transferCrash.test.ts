/**
 * A transfer interrupted by a crash of the receiver resumes: a joining node is SIGKILLed in the
 * middle of receiving a partition (its persisted cursor inside the partition), restarted on the
 * same data, and the transfer completes from the cursor with nothing lost.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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

/** The joiner's persisted partition table, as the node wrote it (undefined before the first write). */
function tableOf(id: string): Array<{ partition: number; state: string; cursor: string | null; moved: number }> | undefined {
  try {
    return JSON.parse(readFileSync(join(cluster.dir, id, 'partitions.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

test.serial('transfer - a node SIGKILLed while receiving a partition resumes from its cursor after a restart; nothing is lost', async (t) => {
  const expected = await writeKeys(cluster, 'k', 600);
  const writer = backgroundWriter(cluster, 'during');
  // Slow, small pages so that the kill lands inside a partition.
  const joiner = await cluster.addNode('n4', { join: 'n1', extraArgs: ['--transfer-keys-per-s', '30', '--transfer-page-keys', '3'] });
  const atKill = await waitFor(
    'n4 inside a partition transfer',
    () => {
      const table = tableOf('n4');
      const inside = table?.find((h) => h.state === 'receiving' && h.cursor !== null);
      const done = table?.filter((h) => h.state === 'complete').length ?? 0;
      return inside !== undefined && done >= 2 ? { inside, done, receiving: table!.filter((h) => h.state === 'receiving').length } : false;
    },
    { timeoutMs: 60_000, intervalMs: 10 },
  );
  await joiner.kill('SIGKILL');
  t.log(`killed n4 with ${atKill.done} partitions received, ${atKill.receiving} to go, partition ${atKill.inside.partition} at ${atKill.inside.moved} keys`);

  // Back on the same data at full pace: it resumes, and the rest of the cluster never noticed.
  joiner.spec.extraArgs = [];
  await joiner.start();
  t.true(joiner.logs.some((l) => l.event === 'membership-resumed'), 'the membership view is resumed from disk');
  const resumed = joiner.logs.find((l) => l.event === 'transfers-resumed');
  t.truthy(resumed, 'the restarted node resumes from its persisted cursors');
  t.true(resumed.partitions.some((p: any) => p.after > 0));
  const settled = await waitSettled(cluster, ['n1', 'n2', 'n3', 'n4']);
  await writer.stop();
  t.deepEqual(writer.failures, [], 'no write failed while n4 came and went');
  for (const [k, v] of writer.acked) expected.set(k, v);

  const where = await checkData(t, cluster, settled, expected);
  t.true([...where.values()].filter((on) => on.includes('n4')).length > expected.size * 0.5, 'n4 holds its share');
  t.log(`${expected.size} keys, ${writer.acked.size} written during the transfer`);
});

test.serial('transfer - a node giving partitions up is SIGKILLed mid-transfer: the receiver goes on from other replicas, the giver comes back, nothing is lost', async (t) => {
  const expected = await writeKeys(cluster, 'src', 300);
  const writer = backgroundWriter(cluster, 'during-source-crash');
  const joiner = await cluster.addNode('n5', { join: 'n2', extraArgs: ['--transfer-keys-per-s', '600', '--transfer-page-keys', '10'] });
  // The victim: a node giving partitions up while n5 is receiving; n5's own source when that one
  // gives (sources are the former replicas that give the partition up, first).
  const source = await waitFor(
    'n5 pulling a partition while others give theirs up',
    async () => {
      const transfers = (await cluster.client.status()).transfers;
      const pulled = transfers.find((x: any) => x.node === 'n5' && x.state === 'receiving' && x.moved > 0);
      const givers = new Set<string>(transfers.filter((x: any) => x.state === 'giving' && x.node !== 'n5').map((x: any) => x.node));
      if (!pulled || givers.size === 0) return false;
      return givers.has(pulled.source) ? (pulled.source as string) : [...givers][0]!;
    },
    { timeoutMs: 60_000, intervalMs: 20 },
  );
  const doneAtKill = joiner.logs.filter((l) => l.event === 'transfer-complete').length;
  const victim = cluster.node(source);
  await victim.kill('SIGKILL');
  // The receiver goes on while its preferred source is gone: from the other former replicas.
  await waitFor('n5 to complete more partitions without its source', () => joiner.logs.filter((l) => l.event === 'transfer-complete' && l.source !== source).length >= doneAtKill + 3, { timeoutMs: 60_000 });
  await writer.stop();
  t.deepEqual(writer.failures, [], 'no write failed while the source was down');
  await victim.start();
  const settled = await waitSettled(cluster, ['n1', 'n2', 'n3', 'n4', 'n5'], { timeoutMs: 90_000 });
  for (const [k, v] of writer.acked) expected.set(k, v);
  await checkData(t, cluster, settled, expected);
  t.log(`killed ${source} (giving partitions up) after n5 had received ${doneAtKill} partitions; ${expected.size} keys checked`);
});
