/**
 * Every queue has a bound and work past it is refused, never queued: replica calls waiting for
 * one peer (actors/outbox.ts), operations queued for one vnode in a turn (actors/vnodeMail.ts),
 * and peers' replica operations in progress on a node (actors/node.ts), which a stranger on the
 * NATS account can flood.
 */
import test from 'ava';
import { connect } from '@nats-io/transport-node';
import { Outbox, REPLICA_CALLS_PENDING_PER_PEER_MAX } from '../actors/outbox.ts';
import { VNODE_MAIL_OPS_MAX, VnodeMail } from '../actors/vnodeMail.ts';
import type { ReplicaResult, VnodeOp } from '../actors/vnode.ts';
import { startNatsServer } from '../src/cli/natsServer.ts';
import { subjectsFor } from '../src/subjects.ts';
import { coordinateWrite } from '../src/replica.ts';
import { decodeInternal, encodeInternal } from '../src/wire.ts';
import { TestCluster } from './harness/cluster.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

test('queue bounds - replica calls waiting for one silent peer stop at the bound: the next fails at once as overloaded, not as a dead peer', async (t) => {
  const nats = await startNatsServer();
  reapOnExit(nats.process);
  const nc = await connect({ servers: nats.url });
  const silent = await connect({ servers: nats.url });
  t.teardown(async () => {
    await nc.close();
    await silent.close();
    await nats.stop();
  });
  // Takes every batch and never answers: a peer too busy to reply within the deadline.
  let batches = 0;
  silent.subscribe('peer.silent', { callback: () => void batches++ });
  silent.subscribe('peer.answering', {
    callback: (_err, msg) => void msg.respond(encodeInternal({ results: (decodeInternal(msg.data) as { ops: unknown[] }).ops.map(() => ({ ok: true, clock: null })) })),
  });
  await silent.flush();
  const outbox = new Outbox(nc, `_bounds.${Date.now()}`);
  t.teardown(() => outbox.close());
  const results: ReplicaResult[] = [];
  const deadline = Date.now() + 1_500;
  for (let i = 0; i < REPLICA_CALLS_PENDING_PER_PEER_MAX; i++) outbox.call('peer.silent', { op: 'read', p: 1, k: `k${i}` }, deadline, (r) => results.push(r));
  t.is(results.length, 0, 'below the bound every call waits for its answer');
  let refused: ReplicaResult | undefined;
  outbox.call('peer.silent', { op: 'read', p: 1, k: 'one-more' }, deadline, (r) => (refused = r));
  t.like(refused, { ok: false });
  t.regex((refused as { error: string }).error, /^overloaded: 4096 replica operations already wait for peer\.silent/);
  t.is((refused as { unreachable?: string }).unreachable, undefined, 'a busy peer is not reported unreachable');
  t.is(outbox.stats.refusedPending, 1);
  // Another peer is not held up by the first one's backlog.
  const other = await new Promise<ReplicaResult>((resolve) => outbox.call('peer.answering', { op: 'read', p: 1, k: 'x' }, Date.now() + 2_000, resolve));
  t.true(other.ok);
  // The waiting calls time out; their places are given back.
  await waitFor('the silent peer\'s calls to time out', () => results.length === REPLICA_CALLS_PENDING_PER_PEER_MAX, { timeoutMs: 10_000 });
  t.true(results.every((r) => !r.ok && r.unreachable === 'timeout'));
  t.true(batches > 0);
  const again = await new Promise<ReplicaResult>((resolve) => outbox.call('peer.silent', { op: 'read', p: 1, k: 'again' }, Date.now() + 200, resolve));
  t.is((again as { unreachable?: string }).unreachable, 'timeout', 'after the backlog cleared the next call was sent, not refused');
});

test('queue bounds - operations for one vnode in one turn stop at the bound; the rest are answered overloaded, the others applied in order', async (t) => {
  const ran: Array<{ vnode: object; keys: string[] }> = [];
  const mail = new VnodeMail((vnode, ops) => ran.push({ vnode, keys: ops.map((o) => o.key) }));
  const vnode = {};
  const otherVnode = {};
  const answers: ReplicaResult[] = [];
  const read = (k: string): VnodeOp => ({ type: 'read', key: k, reply: (r) => answers.push(r) });
  // One synchronous run: everything queues until the microtask after it.
  for (let i = 0; i < VNODE_MAIL_OPS_MAX; i++) mail.send(vnode, read(`k${i}`));
  mail.send(vnode, read('past'));
  mail.send(otherVnode, read('elsewhere'));
  t.is(answers.length, 1, 'only the one past the bound is answered at once');
  t.like(answers[0], { ok: false });
  t.regex((answers[0] as { error: string }).error, /^overloaded: 4096 operations already wait for this partition's vnode/);
  await Promise.resolve();
  t.is(ran.length, 2);
  t.is(ran[0]!.keys.length, VNODE_MAIL_OPS_MAX);
  t.deepEqual(ran[0]!.keys.slice(0, 3), ['k0', 'k1', 'k2'], 'in arrival order');
  t.false(ran[0]!.keys.includes('past'));
  t.deepEqual(ran[1]!.keys, ['elsewhere'], 'another vnode is not held up');
});

test('queue bounds - a flood of replica batches from a stranger past the in-progress bound is refused operation by operation; the node serves on', async (t) => {
  // A small bound, so that a flood a test can send passes it (the default is 4,096).
  const cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--replica-ops-max', '512'] });
  t.teardown(() => cluster.stop());
  await cluster.client.put('bounded', 'before', { w: 3 });
  const stranger = await connect({ servers: cluster.nats.url });
  t.teardown(() => stranger.close());
  const subject = subjectsFor('local').replica('n1');
  const clock = coordinateWrite(undefined, undefined, new Uint8Array(8), 'zz.stranger', 1);
  // Writes to keys nobody reads, 256 to a batch, 64 batches in one go: far more than the node can
  // have answered (each waits for an fsync) before the next arrive.
  const batchCount = 64;
  const replies = await Promise.all(
    Array.from({ length: batchCount }, (_, b) =>
      stranger
        .request(subject, encodeInternal({ ops: Array.from({ length: 256 }, (_, i) => ({ op: 'replicate', p: (b + i) % 64, k: `flood-${b}-${i}`, c: clock })) }), { timeout: 30_000 })
        .then((m) => decodeInternal(m.data) as { results: ReplicaResult[] }),
    ),
  );
  const all = replies.flatMap((r) => r.results);
  const refused = all.filter((r) => !r.ok && /^overloaded: n1 has \d+ replica operations in progress, at most 512/.test(r.error));
  const other = all.filter((r) => !r.ok && !/^overloaded/.test(r.error));
  t.true(refused.length > 0, `${refused.length} of ${all.length} operations refused as overloaded`);
  t.is(refused.length % 256, 0, 'a batch is refused whole: nothing of it applied');
  const status = (await cluster.client.status()).members.find((m: any) => m.node === 'n1');
  t.is(status.admission.replicaOpsRefused, refused.length);
  await waitFor('n1 to have answered every replica operation', async () => (await cluster.client.status()).members.find((m: any) => m.node === 'n1').admission.replicaOpsInProgress === 0, { timeoutMs: 30_000 });
  t.deepEqual((await cluster.client.get('bounded', { r: 3 })).values, ['before'], 'the node serves on');

  // Transfer pages read storage: past 16 served at once, a stranger's flood of them is refused.
  const pages = await Promise.all(
    Array.from({ length: 64 }, (_, i) =>
      stranger.request(subjectsFor('local').transfer('n1'), encodeInternal({ type: 'page', p: i % 64, limit: 200, rv: 0 }), { timeout: 10_000 }).then((m) => decodeInternal(m.data) as { error?: string; entries?: unknown[] }),
    ),
  );
  const pagesRefused = pages.filter((r) => /^overloaded: n1 is serving 16 transfer requests, at most 16/.test(r.error ?? ''));
  t.true(pagesRefused.length > 0, `${pagesRefused.length} of 64 transfer pages refused`);
  t.true(pages.some((r) => Array.isArray(r.entries)), 'the rest were served');
  t.log(`${batchCount} batches of 256: ${refused.length} operations refused, ${all.length - refused.length - other.length} applied, ${other.length} other errors`);
});
