import test from 'ava';
import type { DkvError } from '../src/errors.ts';
import { TestCluster } from './harness/cluster.ts';

async function arm(cluster: TestCluster, node: string, body: object): Promise<void> {
  const reply = await cluster.client.raw(`dkv.local.internal.${node}.fault`, body);
  if (!reply.ok) throw new Error(`arming the fault failed: ${JSON.stringify(reply)}`);
}

test('reply encoding - a read whose answer cannot be encoded answers internal alone: no vnode reset, the next read succeeds', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const n1 = cluster.node('n1');
  await cluster.client.put('encoded', 'v1', { w: 3 });

  // peek: n1's vnode reads, and the answer is built outside it.
  await arm(cluster, 'n1', { replyEncodingFailures: 1 });
  const failed = await cluster.client.peek('n1', 'encoded').then(
    () => undefined,
    (err: DkvError) => err,
  );
  t.is(failed?.code, 'internal');
  t.regex(failed?.message ?? '', /could not encode the peek reply: injected reply encoding failure/);
  t.deepEqual((await cluster.client.peek('n1', 'encoded')).values, ['v1']);

  // get: whichever node coordinates it, one read fails and the next one is answered.
  for (const n of ['n1', 'n2', 'n3']) await arm(cluster, n, { replyEncodingFailures: 1 });
  const getFailed = await cluster.client.get('encoded').then(
    () => undefined,
    (err: DkvError) => err,
  );
  t.is(getFailed?.code, 'internal');
  t.regex(getFailed?.message ?? '', /could not encode the get reply/);
  for (const n of ['n1', 'n2', 'n3']) await arm(cluster, n, { replyEncodingFailures: 0 });
  t.deepEqual((await cluster.client.get('encoded', { r: 3 })).values, ['v1']);

  // The failures were logged where an operator looks, and no actor was reset for them.
  t.true(n1.logs.some((l) => l.event === 'reply-encoding-failed' && l.request === 'peek'));
  for (const node of cluster.nodes) t.deepEqual(node.supervisionLines(), [], `${node.id} made no supervision decision`);
  t.true(cluster.nodes.every((n) => n.running));
});
