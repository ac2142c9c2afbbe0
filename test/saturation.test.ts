import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

const enc = new TextEncoder();

test('saturation - under a flood of 20,000 puts every request is answered, no node dies and no live node is marked down', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  // Nodes that started before their peers saw them down until they came up: the flood starts
  // once every node sees every other up, and only what is logged from then on counts.
  await waitFor('every node to see every peer up', async () => (await cluster.client.status()).members.every((m: any) => m.state === 'up' && m.view.every((v: any) => v.status === 'up')), { timeoutMs: 20_000 });
  const logsFrom = new Map(cluster.nodes.map((n) => [n.id, n.logs.length]));
  const value = 'x'.repeat(1000);
  const outcomes = new Map<string, number>();
  const note = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  const flood = Array.from({ length: 20_000 }, (_, i) =>
    cluster.client.nc.request('dkv.local.put', enc.encode(JSON.stringify({ key: `flood-${i % 2000}`, value })), { timeout: 30_000 }).then(
      (m) => {
        const r = JSON.parse(m.string());
        note(r.ok ? 'ok' : r.error.code);
      },
      (e) => note(`no answer: ${(e as Error).message}`),
    ),
  );
  await Promise.all(flood);
  t.log(JSON.stringify(Object.fromEntries(outcomes)));
  // Answered, every one: ok, overloaded, or (a replica too slow for an admitted write, when other
  // tests share the machine) an error reply; none is left without a reply.
  t.is([...outcomes.keys()].filter((k) => k.startsWith('no answer')).length, 0, 'no request went unanswered');
  t.true((outcomes.get('ok') ?? 0) > 0);
  t.true((outcomes.get('overloaded') ?? 0) > 0, 'the flood passed the bound and was shed');
  t.true(cluster.nodes.every((n) => n.running), 'no node died');
  for (const n of cluster.nodes) {
    const downs = n.logs.slice(logsFrom.get(n.id)).filter((l) => l.event === 'peer-status' && l.to === 'down');
    const disconnects = cluster.nodes.map((m) => `${m.id}: ${m.logs.filter((l) => l.event === 'nats-disconnect').length}`).join(', ');
    t.deepEqual(downs.map((l) => `${l.peer} (${l.reason})`), [], `${n.id} marked no live peer down (NATS disconnects: ${disconnects})`);
  }
  // And right after, normal service.
  await cluster.client.put('after-the-flood', 'v', { w: 3 });
  t.deepEqual((await cluster.client.get('after-the-flood', { r: 3 })).values, ['v']);
});

test('saturation - a sequential writer loses no time to a node SIGKILLed under it: attempts are retried well within the deadline', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  // The library's defaults: a 10 s deadline, attempts of half of it.
  const client = await DkvClient.connect({ servers: cluster.nats.url, pipeline: false });
  t.teardown(() => client.close());
  const latencies: number[] = [];
  let killed = false;
  for (let i = 0; i < 400; i++) {
    if (i === 100) {
      void cluster.node('n2').kill('SIGKILL');
      killed = true;
    }
    const started = Date.now();
    await client.put(`sequential-${i}`, `v${i}`);
    latencies.push(Date.now() - started);
  }
  t.true(killed);
  const slowest = Math.max(...latencies);
  t.log(`slowest write ${slowest} ms; writes over 1 s: ${latencies.filter((ms) => ms > 1000).length}`);
  t.true(slowest < 10_000, `no write waited its whole 10 s deadline (slowest ${slowest} ms)`);
  // A write retried after a lost or slow attempt may have landed twice, as a sibling of itself.
  for (let i = 0; i < 400; i += 25) {
    const values = (await client.get(`sequential-${i}`)).values;
    t.true(values.length >= 1 && values.every((v: string) => v === `v${i}`), `sequential-${i}: ${JSON.stringify(values)}`);
  }
});
