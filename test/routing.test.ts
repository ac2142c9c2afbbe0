/**
 * Ring-aware routing in the client library: with more nodes than N, batches go to a node that
 * holds their keys, so no write is forwarded; the ring subject answers what the nodes route by;
 * a node the ring names but that is gone costs a fallback to the queue group, never a failure.
 */
import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 5 });
});

test.after.always(async () => {
  await cluster?.stop();
});

/** Writes then reads `keys` in pipelined turns of 20 calls; every read must see its write. */
async function writeAndRead(client: DkvClient, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 20) {
    const turn = keys.slice(i, i + 20);
    await Promise.all(turn.map((k) => client.put(k, `v-${k}`)));
  }
  for (let i = 0; i < keys.length; i += 20) {
    const turn = keys.slice(i, i + 20);
    const got = await Promise.all(turn.map((k) => client.get(k)));
    got.forEach((g, j) => {
      if (g.values.length !== 1 || g.values[0] !== `v-${turn[j]}`) throw new Error(`${turn[j]} read ${JSON.stringify(g.values)}`);
    });
  }
}

test.serial('routing - the ring subject answers the ring every node routes by', async (t) => {
  const reply = await cluster.client.raw('dkv.local.ring', {});
  t.is(reply.n, 3);
  t.true(Number.isInteger(reply.version));
  t.is(reply.assignment.length, 64);
  t.deepEqual([...new Set(reply.assignment)].sort(), ['n1', 'n2', 'n3', 'n4', 'n5']);
  const bad = await cluster.client.raw('dkv.local.ring', new TextEncoder().encode('{not json'));
  t.is(bad.error?.code, 'bad_request');
});

test.serial('routing - with 5 nodes and N=3, a routing client has no write forwarded; a client without routing does', async (t) => {
  const routed = await DkvClient.connect({ servers: cluster.nats.url, routing: true });
  t.teardown(() => routed.close());
  t.true(routed.ringVersion !== undefined, 'the ring is known once connected');
  const before = await cluster.requestsTotal('forwardedWrites');
  await writeAndRead(routed, Array.from({ length: 200 }, (_, i) => `routed-${i}`));
  t.is(await cluster.requestsTotal('forwardedWrites'), before, 'no write forwarded');

  // The same traffic through the queue group: about 2 in 5 batches land on a node that holds
  // none of a key, which must forward its writes (this is what routing saves).
  const plain = await DkvClient.connect({ servers: cluster.nats.url });
  t.teardown(() => plain.close());
  t.is(plain.ringVersion, undefined);
  await writeAndRead(plain, Array.from({ length: 200 }, (_, i) => `plain-${i}`));
  t.true((await cluster.requestsTotal('forwardedWrites')) > before, 'writes forwarded without routing');
});

test.serial('routing - a node the ring names but that is gone costs a fallback, not a failure', async (t) => {
  const routed = await DkvClient.connect({ servers: cluster.nats.url, routing: true, timeoutMs: 10_000 });
  t.teardown(() => routed.close());
  const version = routed.ringVersion;
  t.true(version !== undefined);
  const gone = cluster.node('n5');
  await gone.kill('SIGKILL');
  // The client still routes by the ring that names n5 (nobody has changed the ring): batches
  // bound for it find no responders and go to the queue group instead.
  await writeAndRead(routed, Array.from({ length: 200 }, (_, i) => `fallback-${i}`));
  t.is(routed.ringVersion, version);
  await gone.start();
  await waitFor('n5 to serve its batch subject again', async () => {
    try {
      await cluster.client.raw('dkv.local.node.n5.batch', { ops: [] });
      return true;
    } catch {
      return false;
    }
  }, { timeoutMs: 15_000 });
});
