import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

test('nats outage - the server restarts under a steady write load: nodes reconnect and every acknowledged write is readable', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  // One attempt per write (no retry after a lost reply), so that each acknowledged write is
  // exactly one version: a retried write may land twice, as a sibling of itself.
  const writer = await DkvClient.connect({ servers: cluster.nats.url, timeoutMs: 3_000, attemptTimeoutMs: 3_000 });
  t.teardown(() => writer.close());

  const acked = new Map<string, string>();
  const refused = new Map<string, number>();
  let stop = false;
  const load = (async () => {
    for (let i = 0; !stop; i++) {
      const key = `steady-${i}`;
      try {
        await writer.put(key, `value-${i}`);
        acked.set(key, `value-${i}`);
      } catch (err) {
        // During the outage a write is refused or times out: then it was not acknowledged.
        const code = (err as { code?: string }).code ?? 'other';
        refused.set(code, (refused.get(code) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  })();

  await waitFor('100 writes acknowledged before the restart', () => acked.size >= 100);
  const before = acked.size;
  await cluster.restartNats();
  await waitFor('100 more writes acknowledged after the restart', () => acked.size >= before + 100, { timeoutMs: 30_000 });
  stop = true;
  await load;
  t.log(`acknowledged ${acked.size} writes; refused during the outage: ${JSON.stringify(Object.fromEntries(refused))}`);

  const reader = await DkvClient.connect({ servers: cluster.nats.url });
  t.teardown(() => reader.close());
  for (const [key, value] of acked) t.deepEqual((await reader.get(key)).values, [value], key);

  // Each node noticed the outage and reports it after the fact.
  const s = await reader.status();
  for (const m of s.members) {
    t.is(m.state, 'up');
    t.true(m.nats.reconnects >= 1, `${m.node} reconnects ${m.nats.reconnects}`);
    t.truthy(m.nats.lastReconnectAt);
  }
  t.true(cluster.nodes.every((n) => n.running));
});
