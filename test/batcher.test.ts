/**
 * Where the client library's batches go (src/client/batcher.ts), with the sending held by the
 * test: every batch stays in flight until the test answers it, so the choices are deterministic.
 * End to end, on real nodes: test/balancing.test.ts, test/coordinatorHint.test.ts, test/routing.test.ts.
 */
import test from 'ava';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { Batcher, type KnownRing, type Queued } from '../src/client/batcher.ts';
import { Ring } from '../src/ring.ts';

interface Sent {
  node: string | undefined;
  ops: Array<{ op: string; key: string }>;
  answer(): void;
}

function harness(known: KnownRing | undefined) {
  const sent: Sent[] = [];
  const batcher = new Batcher(
    () => known,
    (node, data) =>
      new Promise((resolve) => {
        const ops = JSON.parse(new TextDecoder().decode(data)).ops;
        sent.push({ node, ops, answer: () => resolve({ results: ops.map(() => ({ ok: true })) }) });
      }),
  );
  const call = (op: 'get' | 'put', key: string, coordinator?: string): Promise<unknown> =>
    new Promise((resolve, reject) => batcher.add({ read: op === 'get', key, coordinator, json: JSON.stringify({ op, key }), resolve, reject } satisfies Queued));
  return { sent, call };
}

const ringOf = (members: string[], n = 3): KnownRing => ({ version: 1, n, ring: new Ring(Array.from({ length: 64 }, (_, i) => members[i % members.length]!)) });

test('batcher - on 3 nodes, three turns in flight go one to each node, the least loaded first', async (t) => {
  for (let round = 0; round < 20; round++) {
    const { sent, call } = harness(ringOf(['n1', 'n2', 'n3']));
    const calls: Array<Promise<unknown>> = [];
    for (let turn = 0; turn < 3; turn++) {
      for (let i = 0; i < 5; i++) calls.push(call('get', `k${turn}-${i}`));
      await nextTurn();
    }
    t.deepEqual(sent.map((s) => s.node).sort(), ['n1', 'n2', 'n3']);
    // One answered: its node is the least loaded again, and takes the next turn.
    sent[1]!.answer();
    await nextTurn();
    calls.push(call('get', 'next'));
    await nextTurn();
    t.is(sent[3]!.node, sent[1]!.node);
    for (const s of sent) s.answer();
    await Promise.all(calls);
  }
});

test('batcher - on 3 nodes a turn of reads and hinted writes is one batch, whatever the hints name', async (t) => {
  const { sent, call } = harness(ringOf(['n1', 'n2', 'n3']));
  const calls = [call('get', 'a'), call('put', 'b', 'n1'), call('put', 'c', 'n2'), call('get', 'd')];
  await nextTurn();
  t.is(sent.length, 1);
  t.deepEqual(sent[0]!.ops.map((o) => o.key), ['a', 'b', 'c', 'd']);
  // The next turn's writes all name the node busy with the first: they go to another.
  const more = [call('put', 'e', sent[0]!.node), call('put', 'f', sent[0]!.node)];
  await nextTurn();
  t.is(sent.length, 2);
  t.not(sent[1]!.node, sent[0]!.node);
  for (const s of sent) s.answer();
  await Promise.all([...calls, ...more]);
});

test('batcher - with more nodes than N, writes follow their hints and reads go to an owner', async (t) => {
  const known = ringOf(['n1', 'n2', 'n3', 'n4', 'n5']);
  const { sent, call } = harness(known);
  const calls = [call('put', 'w1', 'n4'), call('put', 'w2', 'n4'), call('get', 'r1')];
  await nextTurn();
  const writes = sent.find((s) => s.ops.some((o) => o.key === 'w1'))!;
  t.is(writes.node, 'n4');
  t.deepEqual(writes.ops.map((o) => o.key).filter((k) => k.startsWith('w')), ['w1', 'w2']);
  const read = sent.find((s) => s.ops.some((o) => o.key === 'r1'))!;
  t.true(known.ring.replicas(known.ring.partitionOf('r1'), 3).includes(read.node!));
  for (const s of sent) s.answer();
  await Promise.all(calls);
});

test('batcher - without a ring, reads go to the queue group and hinted writes to the node most of them name', async (t) => {
  const { sent, call } = harness(undefined);
  const calls = [call('get', 'r'), call('put', 'a', 'n2'), call('put', 'b', 'n2'), call('put', 'c', 'n3')];
  await nextTurn();
  t.deepEqual(
    sent.map((s) => [s.node, s.ops.map((o) => o.key)]),
    [
      [undefined, ['r']],
      ['n2', ['a', 'b', 'c']],
    ],
  );
  for (const s of sent) s.answer();
  await Promise.all(calls);
});
