import test from 'ava';
import type { DkvError } from '../src/errors.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

async function armVnodeCrashes(cluster: TestCluster, node: string, count: number): Promise<void> {
  const reply = await cluster.client.raw(`dkv.local.internal.${node}.fault`, { vnodeCrashes: count });
  if (!reply.ok) throw new Error(`arming the fault failed: ${JSON.stringify(reply)}`);
}

test('supervision - a crashed vnode is reset, the decision is logged, and the next request succeeds', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const n1 = cluster.node('n1');
  await cluster.client.put('before-crash', 'v1', { w: 3 });

  await armVnodeCrashes(cluster, 'n1', 1);
  // Every write reaches n1's vnode (N=3 of 3 nodes). Coordinated elsewhere, the crash costs the
  // write one replica, which must then be answered, and w=2 is met by the other two; coordinated
  // by n1, the write fails as a whole, before any version was made.
  const during = await cluster.client.put('during-crash', 'v3', { w: 2 }).then(
    (r) => r.ok,
    (err: DkvError) => {
      t.is(err.code, 'internal');
      t.regex(err.message, /coordinating replica n1 could not write: vnode crashed: injected vnode fault/);
      return false;
    },
  );

  const line = await waitFor('a supervision line on n1', () => n1.supervisionLines()[0]);
  t.is(line.decision, 'reset');
  t.regex(line.actor, /vnode-\d+/);
  t.regex(line.err.message, /injected vnode fault/);

  await cluster.client.put('after-crash', 'v2', { w: 3 });
  t.deepEqual((await cluster.client.get('after-crash', { r: 3 })).values, ['v2']);
  t.deepEqual((await cluster.client.peek('n1', 'before-crash')).values, ['v1']);
  t.deepEqual((await cluster.client.get('during-crash', { r: 3 })).values, during ? ['v3'] : []);
});

test('supervision - a vnode crashing past its restart intensity escalates and the node exits non-zero', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const n1 = cluster.node('n1');
  await armVnodeCrashes(cluster, 'n1', 1_000);
  // Each peek is one vnode message on n1; the 11th crash within 10 s exceeds the intensity.
  for (let i = 0; i < 12 && n1.running; i++) {
    await cluster.client.peek('n1', `k${i}`).catch(() => undefined);
  }
  const exit = await n1.exit;
  t.is(exit.code, 70);
  const decisions = n1.supervisionLines().map((l) => l.decision);
  t.true(decisions.filter((d) => d === 'reset').length >= 10);
  t.true(decisions.includes('escalate'));
  t.true(decisions.includes('exit'));
  // The other two nodes keep serving writes.
  await n1.waitUnsubscribed();
  t.true((await cluster.client.put('still-writable', 'yes')).ok);
});

test('supervision - a crashed coordinator answers its request internal, logs a stop, and the node serves the next request', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const n1 = cluster.node('n1');
  const armed = await cluster.client.raw('dkv.local.internal.n1.fault', { coordinatorCrashes: 1 });
  t.true(armed.ok);
  // The queue group spreads requests over the nodes: put until n1 coordinates one.
  let crashedKey: string | undefined;
  for (let i = 0; i < 200 && crashedKey === undefined; i++) {
    const reply = await cluster.client.raw('dkv.local.put', { key: `k${i}`, value: 'v' });
    if (reply.error) {
      t.is(reply.error.code, 'internal');
      t.regex(reply.error.message, /coordinator crashed: injected coordinator fault/);
      crashedKey = `k${i}`;
    } else t.true(reply.ok);
  }
  if (crashedKey === undefined) return t.fail('n1 coordinated none of 200 puts');
  const line = await waitFor('a supervision line on n1', () => n1.supervisionLines()[0]);
  t.is(line.decision, 'stop');
  t.regex(line.actor, /gateway\/coordinator-put-\d+$/);
  // It crashed before asking any replica: nothing of that put was written.
  t.false((await cluster.client.get(crashedKey, { r: 3 })).found);
  // And every node, n1 included, coordinates the next requests.
  for (let i = 0; i < 30; i++) t.true((await cluster.client.put(`after-${i}`, 'v', { w: 3 })).ok);
  t.is(n1.supervisionLines().length, 1);

  // A read that starts on the fast path (src/getCore.ts) follows the same policy.
  const fastBefore = (await cluster.client.status()).members.find((m: any) => m.node === 'n1').requests.fastReads;
  t.true((await cluster.client.raw('dkv.local.internal.n1.fault', { coordinatorCrashes: 1 })).ok);
  let crashedRead = false;
  for (let i = 0; i < 200 && !crashedRead; i++) {
    const reply = await cluster.client.raw('dkv.local.get', { key: `after-${i % 30}` });
    if (reply.error) {
      t.is(reply.error.code, 'internal');
      t.regex(reply.error.message, /coordinator crashed: injected coordinator fault \(get of/);
      crashedRead = true;
    } else t.deepEqual(reply.values, ['v']);
  }
  if (!crashedRead) return t.fail('n1 coordinated none of 200 gets');
  const readLine = await waitFor('a second supervision line on n1', () => n1.supervisionLines()[1]);
  t.is(readLine.decision, 'stop');
  t.regex(readLine.actor, /gateway\/coordinator-get-\d+$/);
  for (let i = 0; i < 30; i++) t.deepEqual((await cluster.client.get(`after-${i}`)).values, ['v']);
  const fastAfter = (await cluster.client.status()).members.find((m: any) => m.node === 'n1').requests.fastReads;
  t.true(fastAfter > fastBefore, 'n1 took reads on the fast path');
  t.is(n1.supervisionLines().length, 2);
});
