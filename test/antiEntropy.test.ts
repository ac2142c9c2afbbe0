/**
 * Anti-entropy without any read: a node that lost its disk gets every key back from Merkle-tree
 * exchanges within a bounded time; a key deleted while a replica was down stays deleted when it
 * returns, its tombstone is reaped once every replica holds it, and a later write to the key is
 * not shadowed by it.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { encodeContext } from '../src/context.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  // Fast exchanges and a short tombstone grace so that the test sees them; the defaults are 1 s and 1 h.
  // Anti-entropy alone refills a lost disk here: the rebuild by transfer is off (test/rebuild.test.ts has it).
  cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--ae-interval-ms', '20', '--tombstone-grace-ms', '500', '--no-rebuild'] });
});

test.after.always(async () => {
  await cluster?.stop();
});

const figures = async (id: string) => (await cluster.client.status()).members.find((m: any) => m.node === id);

test.serial('anti-entropy - a node that lost its data gets every key back without any read', async (t) => {
  const keys = Array.from({ length: 500 }, (_, i) => `ae-${i}`);
  for (const k of keys) await cluster.client.put(k, `${k}-v`, { w: 3 });
  const n1 = cluster.node('n1');
  await n1.kill('SIGKILL');
  rmSync(join(cluster.dir, 'n1'), { recursive: true, force: true });
  await n1.start();
  const restartedAt = Date.now();
  // One read, at once: r=3 includes the emptied node, and the answer is still right.
  t.deepEqual((await cluster.client.get('ae-0', { r: 3 })).values, ['ae-0-v']);
  const gets = await cluster.requestsTotal('gets');

  const missing = async () => {
    const left: string[] = [];
    for (const k of keys) if ((await cluster.client.peek('n1', k)).values[0] !== `${k}-v`) left.push(k);
    return left;
  };
  await waitFor('anti-entropy to restore every key on n1', async () => (await missing()).length === 0, { timeoutMs: 60_000, intervalMs: 250 });
  const restoredMs = Date.now() - restartedAt;
  t.is(await cluster.requestsTotal('gets'), gets, 'no other get was made meanwhile');
  const after = (await cluster.client.status()).members;
  const repaired = after.reduce((s: number, m: any) => s + m.antiEntropy.keysRepaired + m.antiEntropy.keysPushed, 0);
  // Every key came to the emptied n1 through an exchange (pulled by n1, or pushed to it by a
  // peer), but the one read, which its read repair may have brought.
  const intoN1 =
    1 +
    n1.logs.filter((l) => l.event === 'ae-repair').reduce((s, l) => s + l.pulled, 0) +
    ['n2', 'n3'].flatMap((id) => cluster.node(id).logs.filter((l) => l.event === 'ae-repair' && l.peer === 'n1')).reduce((s, l) => s + l.pushed, 0);
  t.true(intoN1 >= keys.length, `${intoN1} key copies went to n1`);
  // Exchanges that found differences were followed at once, not after an interval.
  const followUps = after.reduce((s: number, m: any) => s + (m.antiEntropy.followUps ?? 0), 0);
  t.true(followUps > 0, `${followUps} exchanges followed a difference at once`);
  const bytes = after.reduce((s: number, m: any) => s + m.antiEntropy.bytesSent + m.antiEntropy.bytesReceived, 0);
  t.log(`500 keys restored on n1 by anti-entropy in ${restoredMs} ms (exchanges every 20 ms per node); ${repaired} key repairs, ${bytes} bytes of exchange traffic counted`);
});

test.serial('anti-entropy - a restarted node rebuilds its trees from storage and they agree with its peers', async (t) => {
  const n2 = cluster.node('n2');
  await n2.stop();
  const linesBefore = n2.logs.length;
  await n2.start();
  await waitFor('n2 to exchange with its peers', async () => (await figures('n2')).antiEntropy.exchanges >= 40, { timeoutMs: 30_000 });
  const ae = (await figures('n2')).antiEntropy;
  const repairs = n2.logs.slice(linesBefore).filter((l) => l.event === 'ae-repair');
  t.deepEqual(repairs, [], 'trees rebuilt from storage find nothing to repair');
  t.is(ae.keysRepaired + ae.keysPushed, 0);
  t.true(ae.agreeing > 0);
  t.log(`n2 after restart: ${ae.exchanges} exchanges, ${ae.agreeing} agreeing at the root`);
});

test.serial('anti-entropy - a key deleted while a replica was down stays deleted; its tombstone is reaped; a new write is not shadowed', async (t) => {
  await cluster.client.put('doomed', 'old', { w: 3 });
  const n3 = cluster.node('n3');
  await n3.kill('SIGKILL');
  const got = await cluster.client.get('doomed');
  await cluster.client.delete('doomed', { context: got.context });
  await n3.start();
  // n3 comes back with the old value; hints and exchanges bring the tombstone, never the value back.
  await waitFor('n3 to lose the deleted value', async () => (await cluster.client.peek('n3', 'doomed')).values.length === 0, { timeoutMs: 30_000 });
  const read = await cluster.client.get('doomed', { r: 3 });
  t.false(read.found);
  t.deepEqual(read.values, []);

  await waitFor('the tombstone to be reaped on every replica', async () => {
    const members = (await cluster.client.status()).members;
    return members.reduce((s: number, m: any) => s + m.antiEntropy.tombstonesReaped, 0) > 0;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  // Once reaped, exchanges go on and nothing comes back.
  const exchanges = (await figures('n1')).antiEntropy.exchanges;
  await waitFor('more exchanges after the reap', async () => (await figures('n1')).antiEntropy.exchanges > exchanges + 50, { timeoutMs: 30_000 });
  t.false((await cluster.client.get('doomed', { r: 3 })).found, 'still deleted after the reap and more exchanges');
  for (const id of ['n1', 'n2', 'n3']) t.deepEqual((await cluster.client.peek(id, 'doomed')).values, [], id);
  // A tombstone still carries its history in the context; a reaped key has none on any replica.
  await waitFor('no replica to hold the tombstone', async () => {
    for (const id of ['n1', 'n2', 'n3']) if ((await cluster.client.peek(id, 'doomed')).context !== encodeContext([])) return false;
    return true;
  }, { timeoutMs: 30_000 });

  await cluster.client.put('doomed', 'reborn');
  t.deepEqual((await cluster.client.get('doomed', { r: 3 })).values, ['reborn'], 'a new write is not shadowed by the old tombstone');
});
