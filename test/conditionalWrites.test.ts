/**
 * Conditional writes on real node processes: `"if": "absent"` and `"if": "current"` on put and
 * delete, a refused write changing nothing, bad conditions refused, and the race the guarantee
 * allows: two conditional writes on the two sides of a partition both pass and meet as siblings.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { DkvError } from '../src/errors.ts';
import { TestCluster } from './harness/cluster.ts';
import { BIN } from './harness/nodeProcess.ts';
import { ringOf } from './harness/replicas.ts';
import { startSplitCluster } from './harness/splitCluster.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);
let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

const codeOf = async (p: Promise<unknown>): Promise<string> => {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return err instanceof DkvError ? `${err.code}: ${err.message}` : String(err);
  }
};

test('if absent - creates a missing or deleted key once; a key with a value answers conflict and keeps it', async (t) => {
  const c = cluster.client;
  await c.put('cw-absent', 'first', { if: 'absent' });
  t.deepEqual((await c.get('cw-absent')).values, ['first']);
  t.is(await codeOf(c.put('cw-absent', 'second', { if: 'absent' })), 'conflict: "if": "absent", but the key has 1 current value');
  const after = await c.get('cw-absent', { r: 3 });
  t.deepEqual(after.values, ['first'], 'the refused write was applied nowhere');

  // Deleted: absent again, and the new value replaces the tombstone without a sibling.
  await c.delete('cw-absent', { context: after.context });
  await c.put('cw-absent', 'again', { if: 'absent' });
  t.deepEqual((await c.get('cw-absent', { r: 3 })).values, ['again']);
  // Through the batch subject too (the client pipelines calls of one turn).
  const both = await Promise.all([codeOf(c.put('cw-absent', 'x', { if: 'absent' })), codeOf(c.put('cw-absent-2', 'y', { if: 'absent' }))]);
  t.deepEqual(both, ['conflict: "if": "absent", but the key has 1 current value', 'ok']);
});

test('if current - applies over exactly what was read; a stale context answers conflict and changes nothing', async (t) => {
  const c = cluster.client;
  await c.put('cw-current', 'v1');
  const read1 = await c.get('cw-current');
  const put2 = await c.put('cw-current', 'v2', { if: 'current', context: read1.context });
  t.deepEqual((await c.get('cw-current', { r: 3 })).values, ['v2']);
  t.regex(await codeOf(c.put('cw-current', 'stale', { if: 'current', context: read1.context })), /^conflict: "if": "current", but the key changed since that context was read: it has 1 current value/);
  t.deepEqual((await c.get('cw-current', { r: 3 })).values, ['v2'], 'no sibling was made');
  // The put's reply context is current too.
  await c.put('cw-current', 'v3', { if: 'current', context: put2.context });
  // Siblings: a context that saw only one of them is not current.
  await c.put('cw-current', 'sibling');
  const two = await c.get('cw-current');
  t.is(two.values.length, 2);
  t.regex(await codeOf(c.delete('cw-current', { if: 'current', context: put2.context })), /^conflict: .* it has 2 current values/);
  await c.delete('cw-current', { if: 'current', context: two.context });
  t.false((await c.get('cw-current', { r: 3 })).found);
});

// Serial, so it runs first, alone: it stops a node that the other tests of this file share.
test.serial('conditions - with a node down, they hold against the replicas that answer', async (t) => {
  const c = cluster.client;
  await c.put('cw-down-present', 'here', { w: 3 });
  const read = await c.get('cw-down-present', { r: 3 });
  const n3 = cluster.node('n3');
  await n3.kill('SIGKILL');
  try {
    await c.put('cw-down-new', 'created', { if: 'absent' });
    t.deepEqual((await c.get('cw-down-new')).values, ['created']);
    t.regex(await codeOf(c.put('cw-down-present', 'again', { if: 'absent' })), /^conflict: .* 1 current value$/);
    await c.put('cw-down-present', 'updated', { if: 'current', context: read.context });
    t.regex(await codeOf(c.put('cw-down-present', 'stale', { if: 'current', context: read.context })), /^conflict: /);
    t.deepEqual((await c.get('cw-down-present')).values, ['updated']);
  } finally {
    await n3.start();
    await cluster.settled();
  }
  // Back, n3 gets what it missed (hints, repair) and a read of all three shows no sibling.
  await waitFor('n3 to hold the conditional writes', async () => (await c.peek('n3', 'cw-down-present')).values[0] === 'updated' && (await c.peek('n3', 'cw-down-new')).values[0] === 'created', { timeoutMs: 30_000, intervalMs: 200 });
  t.deepEqual((await c.get('cw-down-present', { r: 3 })).values, ['updated']);
});

test('conditions - bad ones are bad_request and change nothing', async (t) => {
  const c = cluster.client;
  await c.put('cw-bad', 'kept');
  for (const body of [{ key: 'cw-bad', value: 'x', if: 'present' }, { key: 'cw-bad', value: 'x', if: 'current' }, { key: 'cw-bad', value: 'x', if: 7 }]) {
    const reply = await c.raw(c.subjects.put, body);
    t.is(reply.error?.code, 'bad_request', JSON.stringify(body));
  }
  t.is((await c.raw(c.subjects.delete, { key: 'cw-bad', if: 'maybe' })).error?.code, 'bad_request');
  t.deepEqual((await c.get('cw-bad', { r: 3 })).values, ['kept']);
});

test('conditions - the CLI takes --if', async (t) => {
  const env = { ...process.env, DKV_NATS_URL: cluster.nats.url };
  const dkv = (...args: string[]) => run(process.execPath, [BIN, ...args], { env }).then((r) => ({ code: 0, out: r.stdout + r.stderr }), (err) => ({ code: err.code as number, out: String(err.stdout) + String(err.stderr) }));
  t.is((await dkv('put', 'cw-cli', 'one', '--if', 'absent')).code, 0);
  const again = await dkv('put', 'cw-cli', 'two', '--if', 'absent');
  t.not(again.code, 0);
  t.regex(again.out, /conflict/);
  const context = /context: (\S+)/.exec((await dkv('get', 'cw-cli')).out)![1]!;
  t.is((await dkv('delete', 'cw-cli', '--if', 'current', '--context', context)).code, 0);
  t.false((await cluster.client.get('cw-cli', { r: 3 })).found);
});

test('conditions - on the two sides of a partition both pass, and meet as siblings', async (t) => {
  const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const sideA = new Set(['n1', 'n2']);
  const ring = ringOf(members);
  const owners = (key: string) => [...ring.replicas(ring.partitionOf(key), 3)];
  const spans = (k: string) => owners(k).some((o) => sideA.has(o)) && owners(k).some((o) => !sideA.has(o));
  const [created, updated] = Array.from({ length: 200 }, (_, i) => `race-${i}`).filter(spans);
  const { pair, a, b } = await startSplitCluster(t, members, sideA);
  await a.put(updated!, 'before', { w: 3 });
  const seen = await a.get(updated!, { r: 3 });

  pair.partition();
  await pair.waitPartitioned();
  await a.put(created!, 'created on A', { if: 'absent' });
  await b.put(created!, 'created on B', { if: 'absent' });
  await a.put(updated!, 'updated on A', { if: 'current', context: seen.context });
  await b.put(updated!, 'updated on B', { if: 'current', context: seen.context });

  pair.heal();
  await pair.waitRouted();
  for (const [key, side] of [[created!, 'created'], [updated!, 'updated']] as const) {
    const expected = JSON.stringify([`${side} on A`, `${side} on B`]);
    await waitFor(`${key}: both conditional writes as siblings`, async () => JSON.stringify([...(await a.get(key, { r: 3 })).values].sort()) === expected, { timeoutMs: 60_000, intervalMs: 250 });
    // On every owner, so that whichever W replicas the next conditional write hears hold both.
    await waitFor(`${key}: every owner holding both`, async () => {
      for (const o of owners(key)) if (JSON.stringify([...(await a.peek(o, key)).values].sort()) !== expected) return false;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 250 });
    // Now every replica is heard: a further "absent" is refused, a "current" over both passes.
    t.regex(await codeOf(a.put(key, 'third', { if: 'absent' })), /^conflict: .* 2 current values/);
    const both = await b.get(key, { r: 3 });
    await b.put(key, 'resolved', { if: 'current', context: both.context });
    t.deepEqual((await a.get(key, { r: 3 })).values, ['resolved']);
  }
});
