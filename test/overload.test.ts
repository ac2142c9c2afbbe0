import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';

let cluster: TestCluster;

test.before(async () => {
  // A small bound, so that a burst this test can send passes it.
  cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--client-ops-max', '4'] });
});

test.after.always(async () => {
  await cluster?.stop();
});

const enc = new TextEncoder();

test.serial('overload - past its bound a node answers overloaded at once, and a refused write changed nothing', async (t) => {
  const n = 300;
  const replies = await Promise.all(
    Array.from({ length: n }, (_, i) => cluster.client.nc.request('dkv.local.put', enc.encode(JSON.stringify({ key: `burst-${i}`, value: `v${i}` })), { timeout: 10_000 }).then((m) => JSON.parse(m.string()))),
  );
  const ok = replies.filter((r) => r.ok === true).length;
  const overloaded = replies.filter((r) => r.error?.code === 'overloaded');
  t.is(ok + overloaded.length, n, `every request answered ok or overloaded: ${JSON.stringify(replies.find((r) => !r.ok && r.error?.code !== 'overloaded'))}`);
  t.true(overloaded.length > 0, 'the burst passed the bound');
  t.true(ok > 0, 'work within the bound was done');
  t.regex(overloaded[0].error.message, /bound of 4 operations in progress.*nothing was applied; back off and retry/);
  for (const [i, r] of replies.entries()) {
    const got = await cluster.client.get(`burst-${i}`, { r: 3 });
    t.deepEqual(got.values, r.ok ? [`v${i}`] : [], `burst-${i} (${r.ok ? 'ok' : 'overloaded'})`);
  }
  const status = await cluster.client.status();
  const rejected = status.members.reduce((sum: number, m: any) => sum + (m.admission?.rejected ?? 0), 0);
  t.true(rejected >= overloaded.length, `status counts ${rejected} rejected operations`);
  t.true(status.members.every((m: any) => m.admission?.opsMax === 4 && m.admission.inProgress === 0));
});

test.serial('overload - a batch is taken whole below the bound and refused whole at it; a refused one changed nothing', async (t) => {
  const ops = Array.from({ length: 10 }, (_, i) => ({ op: 'put', key: `batch-whole-${i}`, value: 'x' }));
  // Below the bound (nothing in progress): all 10 are taken, though 10 > 4.
  const taken = await cluster.client.raw('dkv.local.batch', { ops: [...ops, { op: 'get', key: '' }] });
  t.true(taken.results.slice(0, 10).every((r: any) => r.ok === true), JSON.stringify(taken.results[0]));
  t.is(taken.results[10].error.code, 'bad_request', 'a malformed element keeps its own error');
  // At the bound: each node gets a burst of single puts and batches in the same moment.
  const batches = await Promise.all(
    Array.from({ length: 60 }, (_, b) => {
      if (b % 6 !== 0) return cluster.client.nc.request('dkv.local.put', enc.encode(JSON.stringify({ key: `batch-single-${b}`, value: 'y' })), { timeout: 10_000 }).then(() => undefined);
      return cluster.client.raw('dkv.local.batch', { ops: Array.from({ length: 5 }, (_, i) => ({ op: 'put', key: `batch-${b}-${i}`, value: 'z' })) }).then((r) => ({ b, r }));
    }),
  );
  let refused = 0;
  for (const x of batches) {
    if (!x) continue;
    const codes = new Set(x.r.results.map((r: any) => (r.ok ? 'ok' : r.error.code)));
    t.true(codes.size === 1 && (codes.has('ok') || codes.has('overloaded')), `batch ${x.b}: all or none, got ${[...codes]}`);
    if (codes.has('overloaded')) {
      refused++;
      for (let i = 0; i < 5; i++) t.deepEqual((await cluster.client.get(`batch-${x.b}-${i}`, { r: 3 })).values, [], 'a refused batch wrote nothing');
    }
  }
  t.log(`${refused} of 10 batches refused whole`);
});

test.serial('overload - the library backs off and retries overloaded requests within its deadline: every write of a burst lands', async (t) => {
  const client = await DkvClient.connect({ servers: cluster.nats.url, pipeline: false, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  const n = 300;
  await Promise.all(Array.from({ length: n }, (_, i) => client.put(`retried-${i}`, `v${i}`)));
  t.true(client.overloadedRetries > 0, `${client.overloadedRetries} retries after overloaded`);
  for (let i = 0; i < n; i += 37) t.deepEqual((await cluster.client.get(`retried-${i}`, { r: 3 })).values, [`v${i}`]);
});
