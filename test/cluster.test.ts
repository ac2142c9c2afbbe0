import test from 'ava';
import { DkvError } from '../src/errors.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';
import { subjectsFor } from '../src/subjects.ts';
import { DkvClient } from '../src/client/client.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('cluster - put then get returns the value with a context', async (t) => {
  const put = await cluster.client.put('greeting', 'hello');
  t.true(put.ok);
  t.is(typeof put.context, 'string');
  const got = await cluster.client.get('greeting');
  t.deepEqual(got.values, ['hello']);
  t.true(got.found);
  t.is(got.key, 'greeting');
});

test.serial('cluster - a missing key is not found and still carries a context', async (t) => {
  const got = await cluster.client.get('never-written');
  t.false(got.found);
  t.deepEqual(got.values, []);
  t.is(typeof got.context, 'string');
  // The context of a missing key is accepted back by put.
  await cluster.client.put('never-written', 'now written', { context: got.context });
  t.deepEqual((await cluster.client.get('never-written')).values, ['now written']);
});

test.serial('cluster - two puts without context become siblings; the merged context resolves them', async (t) => {
  await cluster.client.put('sib', 'a');
  await cluster.client.put('sib', 'b');
  const got = await cluster.client.get('sib');
  t.deepEqual([...got.values].sort(), ['a', 'b']);
  await cluster.client.put('sib', 'c', { context: got.context });
  const after = await cluster.client.get('sib');
  t.deepEqual(after.values, ['c']);
});

test.serial('cluster - beside a sibling, a put with the previous put\'s reply context supersedes that put', async (t) => {
  // Each put coordinated by a node of its choosing (its node batch subject): "theirs" by n1,
  // "mine-1" by n2, so n2's entry holds mine-1 alone and its reply can name it.
  const putOn = async (node: string, value: string, context?: string) => {
    const reply = await cluster.client.raw(subjectsFor('local').nodeBatch(node), { ops: [{ op: 'put', key: 'chain', value, ...(context ? { context } : {}) }] });
    t.true(reply.results?.[0]?.ok, JSON.stringify(reply));
    return reply.results[0].context as string;
  };
  const onEveryReplica = (value: string) =>
    waitFor(`${value} on every replica`, async () => {
      for (const n of ['n1', 'n2', 'n3']) if (!(await cluster.client.peek(n, 'chain')).values.includes(value)) return false;
      return true;
    }, { timeoutMs: 10_000 });
  await putOn('n1', 'theirs');
  await onEveryReplica('theirs');
  const first = await putOn('n2', 'mine-1');
  // Every replica has it: the next put's coordinator has seen what it supersedes.
  await onEveryReplica('mine-1');
  await putOn('n3', 'mine-2', first);
  t.deepEqual([...(await cluster.client.get('chain', { r: 3 })).values].sort(), ['mine-2', 'theirs']);
});

test.serial('cluster - delete with context, then get is not found; a put after delete is visible', async (t) => {
  await cluster.client.put('doomed', 'v1');
  const got = await cluster.client.get('doomed');
  await cluster.client.delete('doomed', { context: got.context });
  const gone = await cluster.client.get('doomed');
  t.false(gone.found);
  t.deepEqual(gone.values, []);
  await cluster.client.put('doomed', 'v2', { context: gone.context });
  const back = await cluster.client.get('doomed');
  t.deepEqual(back.values, ['v2']);
  t.true(back.found);
});

test.serial('cluster - a delete concurrent with a put keeps the put as the only live value', async (t) => {
  await cluster.client.put('race', 'v1');
  const ctx = (await cluster.client.get('race')).context;
  await cluster.client.put('race', 'concurrent'); // no context: concurrent with the delete below
  await cluster.client.delete('race', { context: ctx });
  const got = await cluster.client.get('race');
  t.deepEqual(got.values, ['concurrent']);
});

test.serial('cluster - keys are opaque: dots, wildcards, spaces and unicode', async (t) => {
  const keys = ['a.b.c', '*', '>', 'with space', 'dkv.local.get', '__proto__', 'constructor', 'ключ 🔑'];
  for (const k of keys) await cluster.client.put(k, `value of ${k}`);
  for (const k of keys) t.deepEqual((await cluster.client.get(k)).values, [`value of ${k}`], k);
});

test.serial('cluster - every key has exactly N=3 replicas, visible with peek', async (t) => {
  await cluster.client.put('replicated', 'everywhere', { w: 3 });
  for (const n of cluster.nodes) {
    const peek = await cluster.client.peek(n.id, 'replicated');
    t.is(peek.node, n.id);
    t.deepEqual(peek.values, ['everywhere']);
  }
});

test.serial('cluster - base64 values round-trip raw bytes', async (t) => {
  const bytes = Buffer.from([0, 255, 1, 254, 10, 13]);
  await cluster.client.put('binary', bytes.toString('base64'), { encoding: 'base64' });
  const got = await cluster.client.get('binary', { encoding: 'base64' });
  t.deepEqual(got.values.map((v) => Buffer.from(v, 'base64')), [bytes]);
});

test.serial('cluster - r and w per request, r=3 reads all replicas', async (t) => {
  await cluster.client.put('quorums', 'x', { w: 1 });
  const got = await cluster.client.get('quorums', { r: 3 });
  t.deepEqual(got.values, ['x']);
  const err = await t.throwsAsync(cluster.client.get('quorums', { r: 4 }));
  t.is((err as DkvError).code, 'bad_request');
});

test.serial('cluster - status lists every member up with ring ownership', async (t) => {
  const s = await cluster.client.status();
  t.is(s.cluster, 'local');
  t.deepEqual(s.members.map((m: any) => m.node), ['n1', 'n2', 'n3']);
  t.true(s.members.every((m: any) => m.state === 'up'));
  t.is(s.members.reduce((sum: number, m: any) => sum + m.partitionsOwned, 0), 64);
  t.is(s.ring.owners.length, 64);
});

test.serial('cluster - with every node up, every read takes the fast path and answers what was written, siblings included', async (t) => {
  const keys = Array.from({ length: 30 }, (_, i) => `fast ${i}`);
  for (const k of keys) await cluster.client.put(k, `${k} v`, { w: 3 });
  // Two blind writes of one key: siblings, which the fast path must merge like the coordinator.
  await cluster.client.put('fast siblings', 'a', { w: 3 });
  await cluster.client.put('fast siblings', 'b', { w: 3 });
  const gets = await cluster.requestsTotal('gets');
  const fast = await cluster.requestsTotal('fastReads');
  for (const k of keys) t.deepEqual((await cluster.client.get(k)).values, [`${k} v`]);
  t.deepEqual([...(await cluster.client.get('fast siblings')).values].sort(), ['a', 'b']);
  t.false((await cluster.client.get('fast never written')).found);
  t.is((await cluster.requestsTotal('gets')) - gets, 32);
  t.is((await cluster.requestsTotal('fastReads')) - fast, 32);
  t.is(await cluster.requestsTotal('fastReadHandovers'), 0);
});

const batchFigures = async () => ({ batches: await cluster.requestsTotal('batches'), ops: await cluster.requestsTotal('batchedOps') });

test.serial('cluster - the client pipelines: calls of one turn travel as one batch and each gets its own answer', async (t) => {
  const before = await batchFigures();
  const keys = Array.from({ length: 200 }, (_, i) => `pipelined ${i}`);
  const puts = await Promise.all(keys.map((k, i) => cluster.client.put(k, `v${i}`, { w: 3 })));
  t.true(puts.every((p) => p.ok && typeof p.context === 'string'));
  const mid = await batchFigures();
  t.is(mid.ops - before.ops, 200);
  t.true(mid.batches - before.batches <= 2, `${mid.batches - before.batches} batches for 200 puts`);
  // Mixed kinds in one turn, an error among them: each call settles on its own reply.
  const [got, missing, bad, deleted] = await Promise.allSettled([
    cluster.client.get('pipelined 7'),
    cluster.client.get('pipelined never'),
    cluster.client.put('pipelined bad', 'x', { w: 9 }),
    cluster.client.delete('pipelined 8', { context: puts[8]!.context }),
  ]);
  t.deepEqual(got.status === 'fulfilled' && got.value.values, ['v7']);
  t.is(missing.status === 'fulfilled' && missing.value.found, false);
  t.is(bad.status === 'rejected' && (bad.reason as any).code, 'bad_request');
  t.is(deleted.status, 'fulfilled');
  t.false((await cluster.client.get('pipelined 8')).found);
  t.false((await cluster.client.get('pipelined bad')).found);
  const after = await batchFigures();
  t.is(after.ops - mid.ops, 4 + 2, 'the mixed batch, then two single gets');
});

test.serial('cluster - a client with pipeline off sends each call on its own subject', async (t) => {
  const client = await DkvClient.connect({ servers: cluster.nats.url, pipeline: false });
  t.teardown(() => client.close());
  const before = await batchFigures();
  await Promise.all(Array.from({ length: 20 }, (_, i) => client.put(`unpipelined ${i}`, 'v')));
  t.deepEqual(await batchFigures(), before);
  t.deepEqual((await client.get('unpipelined 3')).values, ['v']);
});

test.serial('cluster - a read of agreeing replicas moves no version set: the others answer "same as yours"', async (t) => {
  const sameReads = () => cluster.requestsTotal('sameReads');
  await cluster.client.put('digest read', 'a', { w: 3 });
  await cluster.client.put('digest read', 'b', { w: 3 }); // a sibling: two values to not send
  const before = await sameReads();
  const got = await cluster.client.get('digest read', { r: 3 });
  t.deepEqual([...got.values].sort(), ['a', 'b']);
  t.is((await sameReads()) - before, 2, 'both other replicas answered "same"');
  const missing = await cluster.client.get('digest read never written', { r: 3 });
  t.false(missing.found);
  t.is((await sameReads()) - before, 4, 'a key nobody holds reads "same" too');
});
