import test from 'ava';
import { DkvError } from '../src/errors.ts';
import { TestCluster } from './harness/cluster.ts';

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
