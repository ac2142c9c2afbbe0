/**
 * `dkv join|leave ID --wait`: the progress computed from successive status replies, its two
 * renderings, and end to end on a real cluster: a node joined and then removed with --wait, each
 * command returning only once the ring has changed and nothing is moving any more.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { handoffProgress, renderProgress, watchHandoff } from '../src/cli/handoffProgress.ts';
import { TestCluster } from './harness/cluster.ts';
import { writeKeys } from './harness/membership.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
const run = promisify(execFile);

const status = (inRing: boolean, keys: number, transfers: number, n1RingVersion = 2) => ({
  ring: { version: 2 },
  members: [
    { node: 'n1', state: 'up', inRing: true, transfer: { keysReceived: 100 }, membership: { ringVersion: n1RingVersion } },
    { node: 'n4', state: 'up', inRing, transfer: { keysReceived: keys }, membership: { ringVersion: 2 } },
  ],
  transfers: Array.from({ length: transfers }, (_, i) => ({ node: 'n4', partition: i, state: 'receiving' })),
});

test('handoff progress - a join: waiting for the ring, then partitions moving with a rate and a time to go, then done', (t) => {
  const watch = watchHandoff({ kind: 'join', node: 'n4' }, status(false, 0, 0), 0);
  const before = handoffProgress(watch, status(false, 0, 0), 500);
  t.false(before.done, 'not done while n4 is not in the ring, though nothing moves');
  t.is(before.waitingFor, 'n4 to enter the ring');
  const start = handoffProgress(watch, status(true, 0, 20), 1_000);
  t.is(start.partitionsLeft, 20);
  t.is(start.fraction, 0);
  t.is(start.secondsToGo, undefined, 'no rate yet');
  const half = handoffProgress(watch, status(true, 5_000, 10), 5_000);
  t.is(half.keysMoved, 5_000);
  t.is(half.fraction, 0.5);
  t.is(half.keysPerSecond, 1_000);
  t.is(half.secondsToGo, 5, '10 partitions in 5 s: 10 more in about 5 s');
  t.regex(renderProgress(half, true), /^\[#{12}-{12}\]  50%  5,000 keys moved, 10 partitions left, 1,000 keys\/s, ~5 s to go$/);
  t.regex(renderProgress(half, false), /^50%: 5,000 keys moved, 10 partitions left, 1,000 keys\/s, ~5 s to go \(waiting for 10 partitions to move\)$/);
  const lagging = handoffProgress(watch, status(true, 9_000, 0, 1), 8_000);
  t.false(lagging.done, 'not done while a member still holds the old ring');
  t.is(lagging.waitingFor, 'n1 to learn the new ring');
  const done = handoffProgress(watch, status(true, 9_000, 0), 9_000);
  t.true(done.done);
  t.is(renderProgress(done, true), 'done: 9,000 keys moved, 1,000 keys/s');
});

test('handoff progress - a leave is done only once the node is out of the ring and nothing moves', (t) => {
  const watch = watchHandoff({ kind: 'leave', node: 'n4' }, status(true, 0, 0), 0);
  t.is(handoffProgress(watch, status(true, 0, 0), 100).waitingFor, 'n4 to leave the ring');
  t.is(handoffProgress(watch, status(false, 0, 3), 200).waitingFor, '3 partitions to move');
  // The leaving node's counts go with it: keys moved never go backwards.
  t.is(handoffProgress(watch, { members: [{ node: 'n1', inRing: true, transfer: { keysReceived: 50 } }], transfers: [] }, 300).keysMoved, 0);
  t.true(handoffProgress(watch, { members: [{ node: 'n1', inRing: true }], transfers: [] }, 400).done);
});

test('handoff progress - dkv join n4 --wait and dkv leave n4 --wait return once the handoff is over', async (t) => {
  t.timeout(180_000);
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  await writeKeys(cluster, 'wait', 300);
  await cluster.addNode('n4');
  const args = ['--nats', cluster.nats.url];
  const joined = await run(process.execPath, [BIN, 'join', 'n4', '--wait', ...args], { encoding: 'utf8', timeout: 120_000 });
  const lines = joined.stdout.trim().split('\n');
  t.is(lines[0], 'ok');
  t.regex(lines.at(-1)!, /^done: [\d,]+ keys moved, [\d,]+ keys\/s$/, joined.stdout);
  t.true(Number(/^done: ([\d,]+)/.exec(lines.at(-1)!)![1]!.replace(/,/g, '')) > 0, 'the newcomer received keys');
  const afterJoin = await cluster.client.status();
  t.true(afterJoin.members.find((m: any) => m.node === 'n4')?.inRing, `n4 in the ring as ${afterJoin.answeredBy} sees it`);
  t.deepEqual(afterJoin.transfers, []);

  const left = await run(process.execPath, [BIN, 'leave', 'n4', '--wait', ...args], { encoding: 'utf8', timeout: 120_000 });
  t.regex(left.stdout.trim().split('\n').at(-1)!, /^done: /, left.stdout);
  const afterLeave = await cluster.client.status();
  t.false(afterLeave.ring.nodes.includes('n4'));
  t.deepEqual(afterLeave.transfers, []);
});
