import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { DkvError } from '../src/errors.ts';
import { Ring } from '../src/ring.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

test('failures - with one of three nodes SIGKILLed puts and gets work at R=W=2; with two, puts are unavailable but w=1 works', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  for (let i = 0; i < 20; i++) await c.put(`before-${i}`, `v${i}`);

  await cluster.node('n3').kill('SIGKILL');
  for (let i = 0; i < 20; i++) {
    await c.put(`after-one-${i}`, `w${i}`);
    t.deepEqual((await c.get(`before-${i}`)).values, [`v${i}`]);
    t.deepEqual((await c.get(`after-one-${i}`)).values, [`w${i}`]);
  }

  await cluster.node('n2').kill('SIGKILL');
  const err = await t.throwsAsync(c.put('after-two', 'x'));
  t.is((err as DkvError).code, 'unavailable');
  // Either the quorum failed on the wire, or the failure detector already knew: both say how many.
  t.regex((err as DkvError).message, /[01] of 3 replicas acknowledged the write, 2 required/);
  const readErr = await t.throwsAsync(c.get('before-1'));
  t.is((readErr as DkvError).code, 'unavailable');

  // A write that missed its quorum may still have reached a replica (Dynamo makes no rollback),
  // so the w=1 write goes to a fresh key.
  const ok = await c.put('after-two-w1', 'y', { w: 1 });
  t.true(ok.ok);
  t.deepEqual((await c.get('after-two-w1', { r: 1 })).values, ['y']);
});

// With --sync periodic the interval is an hour: what survives is only what lmdb had committed.
for (const sync of ['always', 'periodic']) test(`failures - SIGKILL of every node loses no acknowledged write (sync ${sync})`, async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--sync', sync, '--sync-ms', '3600000'] });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  const acked = new Map<string, string>();
  // Writes in flight when the kill lands may or may not be acknowledged; only acked ones count.
  const writers = Array.from({ length: 8 }, async (_, w) => {
    for (let i = 0; i < 40; i++) {
      const key = `durable-${w}-${i}`;
      await c.put(key, `value-${w}-${i}`);
      acked.set(key, `value-${w}-${i}`);
    }
  });
  await Promise.all(writers);
  await Promise.all(cluster.nodes.map((n) => n.kill('SIGKILL')));
  t.is(acked.size, 320);

  await Promise.all(cluster.nodes.map((n) => n.start()));
  const status = await c.raw(c.subjects.status, {});
  t.deepEqual(status.members.map((m: { sync?: string }) => m.sync), [sync, sync, sync]);
  for (const [key, value] of acked) {
    const got = await c.get(key);
    t.deepEqual(got.values, [value], key);
  }
});

test('failures - a periodic fsync that fails is logged as an error, the writes stay acknowledged and readable, and the next round syncs', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true, extraArgs: ['--sync', 'periodic', '--sync-ms', '50'] });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  const n1 = cluster.node('n1');
  const syncsOf = async (node: string): Promise<number> => (await c.status()).members.find((m: { node: string }) => m.node === node)?.syncs;
  t.true(Number.isInteger(await syncsOf('n1')), 'status reports the fsyncs of a periodic store');

  const armed = await c.raw('dkv.local.internal.n1.fault', { syncFailures: 2 });
  t.deepEqual(armed, { ok: true });
  for (let i = 0; i < 10; i++) t.true((await c.put(`fsync-fault-${i}`, `v${i}`)).ok);
  await waitFor('two storage-sync-failed lines on n1', () => n1.logs.filter((l) => l.event === 'storage-sync-failed').length >= 2, { timeoutMs: 10_000 });
  const failed = n1.logs.filter((l) => l.event === 'storage-sync-failed');
  t.is(failed[0].level, 50);
  t.is(failed[0].store, 'replica');
  t.regex(failed[0].err, /injected fsync fault/);

  // Retried at the next interval: a write after the failures is followed by a real fsync.
  const before = await syncsOf('n1');
  t.true((await c.put('fsync-fault-after', 'after')).ok);
  await waitFor('an fsync on n1 after the failed ones', async () => (await syncsOf('n1')) > before, { timeoutMs: 10_000 });
  t.is(n1.logs.filter((l) => l.event === 'storage-sync-failed').length, 2, 'only the injected failures');
  for (let i = 0; i < 10; i++) t.deepEqual((await c.get(`fsync-fault-${i}`)).values, [`v${i}`]);

  // The switch is refused where it means nothing.
  const strict = await TestCluster.start({ nodes: 3, faults: true }); // --sync always
  t.teardown(() => strict.stop());
  const refused = await strict.client.raw('dkv.local.internal.n1.fault', { syncFailures: 1 });
  t.is(refused.error?.code, 'bad_request');
  t.regex(refused.error?.message, /needs lmdb storage with --sync periodic/);
});

// The sync-one tests run serially (ava runs them before the others): every test here starts a
// cluster of its own, and five starting at once, beside other files' clusters, left nodes not
// serving after 30 s in a clean-clone CI run.
test.serial('failures - sync one: writes ask for fsyncs beyond the interval; a coordinator whose fsync fails still answers with W buffered copies', async (t) => {
  // An hour-long interval: every fsync seen here is one a durable write asked for.
  const cluster = await TestCluster.start({ nodes: 3, faults: true, extraArgs: ['--sync', 'one', '--sync-ms', '3600000'] });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  const syncs = async (): Promise<number[]> => (await c.status()).members.map((m: { syncs: number }) => m.syncs);
  t.deepEqual((await c.status()).members.map((m: { sync: string }) => m.sync), ['one', 'one', 'one']);
  for (let i = 0; i < 10; i++) t.true((await c.put(`one-${i}`, `v${i}`)).ok);
  await waitFor('fsyncs reported after durable writes', async () => (await syncs()).reduce((a, b) => a + b, 0) >= 1, { timeoutMs: 10_000 });

  // Every fsync fails from now on: each coordinator's own durable copy fails, the mark is dropped,
  // and the two other replicas' committed copies make W = 2 (src/writeCore.ts, `durable`).
  for (const n of cluster.nodes) t.deepEqual(await c.raw(`dkv.local.internal.${n.id}.fault`, { syncFailures: 1_000 }), { ok: true });
  for (let i = 0; i < 10; i++) t.true((await c.put(`one-failing-${i}`, `f${i}`)).ok);
  await waitFor('storage-sync-failed lines', () => cluster.nodes.some((n) => n.logs.some((l) => l.event === 'storage-sync-failed')), { timeoutMs: 10_000 });
  for (let i = 0; i < 10; i++) t.deepEqual((await c.get(`one-failing-${i}`)).values, [`f${i}`]);
});

test.serial('failures - sync one: with every owner of a key down, the node standing in holds the durable mark and fsyncs its hint before the ack', async (t) => {
  // Four nodes, N=3: each key has one node that is no owner of it. An hour-long interval: every
  // fsync of a hint store seen here is one a durable write asked for.
  const cluster = await TestCluster.start({ nodes: 4, faults: true, extraArgs: ['--sync', 'one', '--sync-ms', '3600000'] });
  t.teardown(() => cluster.stop());
  const key = 'owners all gone';
  const { n, assignment } = await cluster.client.raw('dkv.local.ring', {});
  const ring = new Ring(assignment);
  const owners = ring.replicas(ring.partitionOf(key), n);
  const standIn = cluster.nodes.map((x) => x.id).find((id) => !owners.includes(id))!;
  const hintSyncs = async (): Promise<number> => (await cluster.client.status()).members.find((m: { node: string }) => m.node === standIn).hintSyncs;
  t.is(await hintSyncs(), 0);

  for (const o of owners) await cluster.node(o).kill('SIGKILL');
  await waitFor(`${standIn} to see ${owners.join(', ')} down`, async () => {
    const me = (await cluster.client.status()).members.find((m: { node: string }) => m.node === standIn);
    return owners.every((o) => me?.view?.some((p: { node: string; status: string }) => p.node === o && p.status === 'down'));
  }, { timeoutMs: 15_000, intervalMs: 100 });

  const client = await DkvClient.connect({ servers: cluster.nats.url, attemptTimeoutMs: 1_000, timeoutMs: 10_000 });
  t.teardown(() => client.close());
  t.true((await client.put(key, 'kept for the owners', { w: 1 })).ok);
  // Acknowledged only after the stand-in's hint store fsynced the copy (src/writeCore.ts `durable`).
  t.true((await hintSyncs()) >= 1, 'the stand-in fsynced its hint store for the durable write');
  t.deepEqual((await client.get(key, { r: 1 })).values, ['kept for the owners']);
});

test('failures - a fast read whose replicas refuse is handed to the coordinator, which asks again and answers right', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, faults: true });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  await c.put('handed over', 'the value', { w: 3 });
  const figures = async () => (await c.status()).members.find((m: { node: string }) => m.node === 'n1').requests;
  const before = await figures();
  // n2 and n3 each refuse the next replica read: n1's fast read hears a refusal before its
  // second reply, whichever comes first, and must hand the read over.
  for (const node of ['n2', 'n3']) t.deepEqual(await c.raw(`dkv.local.internal.${node}.fault`, { replicaReadRefusals: 1 }), { ok: true });
  // Sent to n1 itself (the routing subject), so that n1 coordinates it.
  const reply = await c.raw('dkv.local.node.n1.batch', { ops: [{ op: 'get', key: 'handed over' }] });
  t.deepEqual(reply.results?.[0]?.values, ['the value'], JSON.stringify(reply));
  const after = await figures();
  t.is(after.fastReads - before.fastReads, 1);
  t.is(after.fastReadHandovers - before.fastReadHandovers, 1);
  t.is(after.gets - before.gets, 1, 'counted once');
  t.is(after.failures - before.failures, 0);
});
