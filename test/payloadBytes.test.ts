import test from 'ava';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox } from '../actors/outbox.ts';
import type { ReplicaResult } from '../actors/vnode.ts';
import { startNatsServer } from '../src/cli/natsServer.ts';
import { coordinateWrite } from '../src/replica.ts';
import { decodeInternal, encodeInternal } from '../src/wire.ts';
import { TestCluster } from './harness/cluster.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

test('payload bytes - replica batches are cut by bytes below the server\'s max_payload; one operation too big is too_large alone', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-payload-'));
  writeFileSync(join(dir, 'nats.conf'), 'max_payload: 65536\n');
  const nats = await startNatsServer({ args: ['-c', join(dir, 'nats.conf')] });
  reapOnExit(nats.process);
  const nc = await connect({ servers: nats.url });
  const peer = await connect({ servers: nats.url });
  t.teardown(async () => {
    await nc.close();
    await peer.close();
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  t.is(nc.info?.max_payload, 65536);
  // The peer answers every operation of every batch, and notes each batch's size.
  const sizes: number[] = [];
  peer.subscribe('peer.replica', {
    callback: (_err, msg) => {
      sizes.push(msg.data.length);
      const { ops } = decodeInternal(msg.data) as { ops: unknown[] };
      msg.respond(encodeInternal({ results: ops.map(() => ({ ok: true, clock: null })) }));
    },
  });
  await peer.flush();
  const outbox = new Outbox(nc, `_payload.${Date.now()}`);
  const big = (n: number) => coordinateWrite(undefined, undefined, new Uint8Array(n), 'n1.abcdefg', 1);
  const results: ReplicaResult[] = [];
  // Six operations of 20 kB in one turn: at most two fit a 64 kB message with its envelope.
  for (let i = 0; i < 6; i++) outbox.call('peer.replica', { op: 'replicate', p: 1, k: `k${i}`, c: big(20_000) }, Date.now() + 5_000, (r) => results.push(r));
  let tooLarge: ReplicaResult | undefined;
  outbox.call('peer.replica', { op: 'replicate', p: 1, k: 'huge', c: big(70_000) }, Date.now() + 5_000, (r) => (tooLarge = r));
  t.false(tooLarge?.ok ?? true);
  t.regex((tooLarge as { error: string }).error, /^too_large: a replica operation of about \d+ bytes cannot travel in one message of at most 49152/);
  await waitFor('every operation answered', () => results.length === 6);
  t.true(results.every((r) => r.ok), JSON.stringify(results.find((r) => !r.ok)));
  t.true(sizes.length >= 3, `${sizes.length} batches`);
  t.true(sizes.every((s) => s <= 65536), `batch sizes ${sizes.join(', ')}`);
  outbox.close();
});

test('payload bytes - a write whose version set could not travel between replicas is too_large and changes nothing', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  const value = (c: string) => c.repeat(260_000);
  // Blind writes: siblings pile up, 260 kB each, until a fourth would pass the 1 MiB payload.
  for (const c of ['a', 'b', 'c']) await cluster.client.put('heavy', value(c), { w: 3 });
  const err = await cluster.client.put('heavy', value('d'), { w: 3 }).then(
    () => undefined,
    (e) => e,
  );
  t.is(err?.code, 'too_large', String(err?.message));
  t.regex(err.message, /version set would be about \d+ bytes.*write back with its context/);
  const read = await cluster.client.get('heavy', { r: 3 });
  t.deepEqual(read.values.map((v: string) => v[0]).sort(), ['a', 'b', 'c'], 'the refused write left nothing');
  for (const n of ['n1', 'n2', 'n3']) t.is((await cluster.client.peek(n, 'heavy')).values.length, 3, n);
  // Resolved with the read's context, the key takes writes again.
  await cluster.client.put('heavy', value('e'), { context: read.context, w: 3 });
  t.deepEqual((await cluster.client.get('heavy', { r: 3 })).values.map((v: string) => v[0]), ['e']);
});
