import test from 'ava';
import { contextCoordinator, decodeContext } from '../src/context.ts';
import { TestCluster } from './harness/cluster.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

const sorted = (entries: Array<[string, number]>) => [...entries].sort((a, b) => (a[0] < b[0] ? -1 : 1));
const forge = (entries: Array<[string, number]>): string => 'c1' + Buffer.from(JSON.stringify(sorted(entries))).toString('base64url');
/** A "c2" context: a vector and a node named to coordinate the write, both made up. */
const forgeNamed = (entries: Array<[string, number]>, node: unknown): string => 'c2' + Buffer.from(JSON.stringify([sorted(entries), node])).toString('base64url');

/** Every replica readable and the same, r=3 reads answer, and a write through each node works. */
async function stillHealthy(t: import('ava').ExecutionContext, key: string, label: string): Promise<void> {
  const read = await cluster.client.get(key, { r: 3 });
  t.true(read.values.length >= 1, `${label}: r=3 read answers with a value`);
  for (const n of ['n1', 'n2', 'n3']) {
    const peek = await cluster.client.peek(n, key);
    t.deepEqual([...peek.values].sort(), [...read.values].sort(), `${label}: peek on ${n}`);
  }
  for (const n of ['n1', 'n2', 'n3']) {
    const before = await cluster.client.get(key, { r: 3 });
    const reply = await cluster.client.raw(`dkv.local.node.${n}.batch`, { ops: [{ op: 'put', key, value: `via ${n}`, context: before.context }] });
    t.true(reply.results?.[0]?.ok, `${label}: put through ${n}: ${JSON.stringify(reply)}`);
    t.deepEqual((await cluster.client.get(key, { r: 3 })).values, [`via ${n}`], `${label}: the put through ${n} superseded what was read`);
  }
}

test('forged context - counters at 1, at the maximum, and actors that do not exist: every replica stays readable and writable', async (t) => {
  const actorIds: string[] = (await cluster.client.status()).members.map((m: any) => m.actorId as string);
  const cases: Array<[string, (real: ReadonlyArray<readonly [string, number]>) => Array<[string, number]>]> = [
    ['counters at the maximum', (real) => real.map(([id]): [string, number] => [id, Number.MAX_SAFE_INTEGER])],
    ['every node at the maximum', () => actorIds.map((id): [string, number] => [id, Number.MAX_SAFE_INTEGER])],
    ['counters at 1', (real) => real.map(([id]): [string, number] => [id, 1])],
    ['actors that do not exist', () => Array.from({ length: 64 }, (_, i): [string, number] => [`ghost-${String(i).padStart(2, '0')}.zzzzzzz`, Number.MAX_SAFE_INTEGER - i])],
    ['a stand-in epoch that does not exist', () => [['n1~ffffff/zz', Number.MAX_SAFE_INTEGER]]],
  ];
  for (const [label, make] of cases) {
    const key = `forged ${label}`;
    await cluster.client.put(key, 'first', { w: 3 });
    const real = decodeContext((await cluster.client.get(key, { r: 3 })).context);
    const forged = forge(make(real));
    await cluster.client.put(key, `forged: ${label}`, { context: forged, w: 3 });
    await cluster.client.raw('dkv.local.delete', { key: 'never-written ' + label, context: forged });
    await stillHealthy(t, key, label);
  }
  t.true(cluster.nodes.every((n) => n.running));
  for (const n of cluster.nodes) t.deepEqual(n.supervisionLines(), [], `${n.id} made no supervision decision`);
});

test('forged context - a write with a forged context never discards a version its client did not read', async (t) => {
  const key = 'forged cannot discard';
  await cluster.client.put(key, 'a', { w: 3 });
  const ctxA = (await cluster.client.get(key, { r: 3 })).context;
  // Another client overwrites it.
  await cluster.client.put(key, 'b', { context: ctxA, w: 3 });
  // A third writes with a context claiming far more than anyone issued, for every node, before
  // reading 'b': with every counter clamped to what the coordinator holds, it supersedes what
  // exists (all of it, as a context read now would), and no dot issued later is covered.
  const actorIds: string[] = (await cluster.client.status()).members.map((m: any) => m.actorId as string);
  await cluster.client.put(key, 'c', { context: forge(actorIds.map((id): [string, number] => [id, Number.MAX_SAFE_INTEGER])), w: 3 });
  const after = await cluster.client.get(key, { r: 3 });
  t.deepEqual(after.values, ['c']);
  // The next honest write continues from the real counters: it is not swallowed as already seen.
  await cluster.client.put(key, 'd', { w: 3 });
  t.deepEqual([...(await cluster.client.get(key, { r: 3 })).values].sort(), ['c', 'd']);
  for (const [id, n] of decodeContext((await cluster.client.get(key, { r: 3 })).context)) t.true(n < 1000, `${id} counter ${n} stays real`);
});

test('forged context - a "c2" naming any node, with any vector: the write lands or is refused, and every replica stays readable and writable', async (t) => {
  const actorIds: string[] = (await cluster.client.status()).members.map((m: any) => m.actorId as string);
  const max = (): Array<[string, number]> => actorIds.map((id): [string, number] => [id, Number.MAX_SAFE_INTEGER]);
  // Names the client follows: members, and names no node has.
  for (const node of ['n1', 'n3', 'ghost', 'n'.repeat(64)]) {
    const key = `forged hint ${node.slice(0, 8)}`;
    await cluster.client.put(key, 'first', { w: 3 });
    const forged = forgeNamed(max(), node);
    t.is(contextCoordinator(forged), node);
    await cluster.client.put(key, `named ${node}`, { context: forged, w: 3 });
    t.deepEqual((await cluster.client.get(key, { r: 3 })).values, [`named ${node}`]);
    await cluster.client.delete('never-written ' + key, { context: forged });
    await stillHealthy(t, key, `c2 naming ${node}`);
  }
  // Names that are not node names (subject wildcards among them): no hint, and no node accepts the context.
  for (const node of ['n1.>', '*', '', null, 7, ['n1'], 'n'.repeat(65)]) {
    const key = 'forged bad hint';
    await cluster.client.put(key, 'kept', { w: 3 });
    const before = (await cluster.client.get(key, { r: 3 })).values;
    const forged = forgeNamed(max(), node);
    t.is(contextCoordinator(forged), undefined, `${JSON.stringify(node)} is no hint`);
    const err = await t.throwsAsync(cluster.client.put(key, 'never', { context: forged }));
    t.is((err as any)?.code, 'bad_request', `${JSON.stringify(node)}: ${err?.message}`);
    t.deepEqual((await cluster.client.get(key, { r: 3 })).values, before, 'nothing changed');
  }
  await stillHealthy(t, 'forged bad hint', 'after malformed hints');
  t.true(cluster.nodes.every((n) => n.running));
  for (const n of cluster.nodes) t.deepEqual(n.supervisionLines(), [], `${n.id} made no supervision decision`);
});
