import test from 'ava';
import { startSplitCluster } from './harness/splitCluster.ts';
import { ringOf } from './harness/replicas.ts';
import { waitFor } from './harness/wait.ts';

const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
const sideA = new Set(['n1', 'n2']);
const ring = ringOf(members);
const owners = (key: string) => [...ring.replicas(ring.partitionOf(key), 3)];

test('partition - both sides accept writes to the same keys; after healing they are siblings on every owner, without a read', async (t) => {
  const { pair, a, b } = await startSplitCluster(t, members, sideA);

  // Keys with owners on both sides, so each side reads the version written before the cut.
  const keys = Array.from({ length: 200 }, (_, i) => `split-${i}`)
    .filter((k) => owners(k).some((o) => sideA.has(o)) && owners(k).some((o) => !sideA.has(o)))
    .slice(0, 20);
  t.is(keys.length, 20);
  for (const k of keys) await a.put(k, 'before', { w: 3 });

  pair.partition();
  await pair.waitPartitioned();
  for (const k of keys) {
    const onA = await a.get(k);
    t.deepEqual(onA.values, ['before'], `side A reads ${k}`);
    await a.put(k, 'written on A', { context: onA.context });
    const onB = await b.get(k);
    t.deepEqual(onB.values, ['before'], `side B reads ${k}`);
    await b.put(k, 'written on B', { context: onB.context });
  }

  pair.heal();
  await pair.waitRouted();
  const healedMs = Date.now();
  const both = JSON.stringify(['written on A', 'written on B']);
  let lastSeen = '';
  await waitFor(
    'every owner to hold both writes, with no hint left',
    async () => {
      for (const k of keys) {
        for (const o of owners(k)) {
          const values = [...(await a.peek(o, k)).values].sort();
          if (JSON.stringify(values) !== both) {
            lastSeen = `${k} on ${o}: ${JSON.stringify(values)}`;
            return false;
          }
        }
      }
      const s = await a.status();
      return s.members.every((m: any) => m.backlog?.hints === 0);
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  ).catch(async (err) => {
    const s = await a.status();
    const views = s.members.map((m: any) => `${m.node}: hints ${m.backlog?.hints} delivered ${m.backlog?.delivered} failures ${m.backlog?.deliveryFailures} view ${(m.view ?? []).map((v: any) => v.node + '=' + v.status).join(',')}`);
    throw new Error(`${err.message}; last: ${lastSeen}; ${views.join(' | ')}`);
  });
  t.log(`replicas converged ${Date.now() - healedMs} ms after the route healed`);

  for (const k of keys) {
    const got = await b.get(k, { r: 3 });
    t.deepEqual([...got.values].sort(), ['written on A', 'written on B'], k);
  }
});
