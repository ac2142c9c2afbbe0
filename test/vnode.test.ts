/**
 * A vnode on its own (real nact system, in-memory engine): operations that run outside its
 * mailbox (`runInline`) and what its supervision policy does when one of them crashes.
 */
import test from 'ava';
import nact from 'nact';
import pino from 'pino';
import { Writable } from 'node:stream';
import { emptyClock, newClock, update, values } from '../src/dvvset.ts';
import { MerkleTree } from '../src/merkle.ts';
import type { StoredClock } from '../src/replica.ts';
import { openStorage } from '../src/storage/open.ts';
import { retireVnode, runInline, spawnVnode, vnodePolicy, type ReplicaResult, type VnodeOp } from '../actors/vnode.ts';
import { waitFor } from './harness/wait.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);

function setUp(t: any) {
  const lines: any[] = [];
  const sink = new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) });
  const log = pino({ level: 'debug' }, sink);
  const system = nact.start();
  t.teardown(() => nact.stop(system));
  const storage = openStorage<StoredClock>({ kind: 'memory' });
  const faults = { vnodeCrashes: 0, coordinatorCrashes: 0, replicaReadRefusals: 0, replyEncodingFailures: 0 };
  const tree = { tree: new MerkleTree(), ready: false };
  const vnode = spawnVnode(system, 7, { nodeId: 'n1', storage, faults, log, now: Date.now, onCrash: vnodePolicy(log, Date.now), readReplica: () => false, tree });
  return { vnode, storage, faults, lines };
}

/** A replicate op whose reply lands in `replies[i]`. */
function replicate(key: string, value: string, replies: ReplicaResult[], i: number): VnodeOp {
  const clock = update(newClock([], bytes(value)), emptyClock(), `w${i}`, 1);
  return { type: 'replicate', key, clock, reply: (r) => void (replies[i] ??= r) };
}

test('vnode - runInline applies operations in the caller\'s turn, in order, and answers once each is durable', async (t) => {
  const { vnode, storage } = setUp(t);
  const replies: ReplicaResult[] = [];
  runInline(vnode, [replicate('k', 'a', replies, 0), replicate('k', 'b', replies, 1), replicate('other', 'c', replies, 2)]);
  // Staged before runInline returned: no mailbox turn in between.
  t.deepEqual(values(storage.get(7, 'k')!).map(text).sort(), ['a', 'b']);
  t.deepEqual(values(storage.get(7, 'other')!).map(text), ['c']);
  await waitFor('three answers', () => (replies.filter(Boolean).length === 3 ? true : undefined));
  t.deepEqual(replies, [{ ok: true, clock: null }, { ok: true, clock: null }, { ok: true, clock: null }]);
});

test('vnode - a crash outside the mailbox goes through the vnode\'s policy: reset, logged, the rest answered, the next op served', async (t) => {
  const { vnode, storage, faults, lines } = setUp(t);
  faults.vnodeCrashes = 1;
  const replies: ReplicaResult[] = [];
  runInline(vnode, [replicate('k1', 'a', replies, 0), replicate('k2', 'b', replies, 1)]);
  const line = await waitFor('a supervision line', () => lines.find((l) => l.event === 'supervision'));
  t.is(line.decision, 'reset');
  t.regex(line.actor, /vnode-7$/);
  t.regex(line.err.message, /injected vnode fault \(partition 7\)/);
  await waitFor('both answers', () => (replies.filter(Boolean).length === 2 ? true : undefined));
  // The first op crashed and the second never ran: both answered, nothing written.
  for (const r of replies) t.deepEqual(r, { ok: false, error: 'vnode crashed: injected vnode fault (partition 7)' });
  t.is(storage.get(7, 'k1'), undefined);
  t.is(storage.get(7, 'k2'), undefined);

  const after: ReplicaResult[] = [];
  runInline(vnode, [replicate('k3', 'c', after, 0)]);
  await waitFor('an answer after the reset', () => after[0]);
  t.deepEqual(after[0], { ok: true, clock: null });
  t.is(lines.filter((l) => l.event === 'supervision').length, 1);
});

test('vnode - a retired vnode refuses what was still on its way and writes nothing', async (t) => {
  const { vnode, storage } = setUp(t);
  retireVnode(vnode);
  const replies: ReplicaResult[] = [];
  runInline(vnode, [replicate('k', 'a', replies, 0)]);
  t.deepEqual(replies[0], { ok: false, error: 'partition not held by this node' });
  t.is(storage.get(7, 'k'), undefined);
});
