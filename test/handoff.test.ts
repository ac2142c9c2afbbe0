import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { hintBacklog, holders, ringOf } from './harness/replicas.ts';
import { waitFor } from './harness/wait.ts';

const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
const ring = ringOf(members);
const owners = (key: string) => [...ring.replicas(ring.partitionOf(key), 3)].sort();

let lastMismatch = '';

/**
 * Every key ends with exactly N=3 replicas, on exactly its owners, and no hint is left. A put
 * retried after its attempt timed out (a loaded machine) may have been applied twice, as a
 * sibling of itself (src/client/client.ts `attemptTimeoutMs`): the owners then hold the value
 * twice, all three alike.
 */
async function converged(cluster: TestCluster, values: Map<string, string>): Promise<boolean> {
  const backlog = await hintBacklog(cluster);
  if (backlog !== 0) {
    lastMismatch = `${backlog} hints left`;
    return false;
  }
  for (const [key, value] of values) {
    let found = await holders(cluster, key, [value]);
    if (found.length === 0) found = await holders(cluster, key, [value, value]);
    if (JSON.stringify(found.sort()) !== JSON.stringify(owners(key))) {
      const peeks = await Promise.all(cluster.nodes.map(async (n) => `${n.id}=${JSON.stringify((await cluster.client.peek(n.id, key)).values)}`));
      lastMismatch = `${key}: owners ${owners(key)}, holders ${found}; ${peeks.join(' ')}`;
      return false;
    }
  }
  return true;
}

for (const fault of ['SIGKILL', 'SIGSTOP'] as const) {
  test.serial(`handoff - with one of five nodes down (${fault}) every write succeeds, and the node catches up without any read`, async (t) => {
    const cluster = await TestCluster.start({ nodes: 5 });
    t.teardown(() => cluster.stop());
    // A stalled node still gets its share of the queue group: the client retries, as one would.
    const client = await DkvClient.connect({ servers: cluster.nats.url, attemptTimeoutMs: 1_000, timeoutMs: 20_000 });
    t.teardown(() => client.close());
    const victim = cluster.node('n3');
    await victim.kill(fault);

    const values = new Map<string, string>();
    // Eight writers at once, so the attempts that land on a stalled n3 wait side by side.
    await Promise.all(
      Array.from({ length: 8 }, async (_, w) => {
        for (let i = w; i < 200; i += 8) {
          const key = `handoff-${fault}-${i}`;
          await client.put(key, `v${i}`, { w: 2 });
          values.set(key, `v${i}`);
        }
      }),
    );
    t.is(values.size, 200);
    const victimShare = [...values.keys()].filter((k) => owners(k).includes('n3'));
    t.true(victimShare.length > 50, `n3 owns ${victimShare.length} of the keys`);

    if (fault === 'SIGSTOP') {
      // A stalled node times out instead of vanishing: coordinators retried it, or the heartbeats
      // (whose timeouts alone mark a node down) had already routed the writes around it.
      const s = await client.status();
      const retries = s.members.reduce((sum: number, m: any) => sum + (m.requests?.retries ?? 0), 0);
      const timedOut = cluster.nodes.filter((n) => n.logs.some((l) => l.event === 'peer-status' && l.peer === 'n3' && l.to === 'down' && l.reason === 'timeout'));
      t.log(`replica retries after timeouts: ${retries}; nodes whose heartbeats timed n3 out: ${timedOut.map((n) => n.id).join(', ')}`);
      t.true(retries > 0 || timedOut.length > 0);
    }
    if (fault === 'SIGKILL') await victim.start();
    else victim.child.kill('SIGCONT');
    const startedMs = Date.now();
    await waitFor('every key on exactly its 3 owners, no hint left', () => converged(cluster, values), { timeoutMs: 60_000, intervalMs: 500 }).catch((err) => {
      throw new Error(`${err.message}; last mismatch: ${lastMismatch}`);
    });
    t.log(`converged ${Date.now() - startedMs} ms after n3 came back; n3 holds ${victimShare.length} keys`);
    // Its value, once or (a retried put, see `converged`) twice.
    for (const k of victimShare.slice(0, 20)) {
      const held = (await cluster.client.peek('n3', k)).values;
      t.true(held.length >= 1 && held.length <= 2 && held.every((v) => v === values.get(k)), `${k} on n3: ${JSON.stringify(held)}`);
    }
    const s = await cluster.client.status();
    t.true(s.members.every((m: any) => m.backlog.hints === 0));
  });
}

test.serial('handoff - hints survive a restart of the node holding them and are delivered afterwards', async (t) => {
  const cluster = await TestCluster.start({ nodes: 5 });
  t.teardown(() => cluster.stop());
  await cluster.node('n3').kill('SIGKILL');
  const values = new Map<string, string>();
  for (let i = 0; i < 100; i++) {
    const key = `survive-${i}`;
    await cluster.client.put(key, `s${i}`);
    values.set(key, `s${i}`);
  }
  // Pick the node holding the most hints, kill it before n3 is back, then restart it.
  const status = await cluster.client.status();
  const keeper = status.members.filter((m: any) => m.state === 'up').sort((a: any, b: any) => b.backlog.hints - a.backlog.hints)[0];
  t.true(keeper.backlog.hints > 0, 'some node holds hints for n3');
  const held = keeper.backlog.hints;
  await cluster.node(keeper.node).kill('SIGKILL');
  await cluster.node(keeper.node).start();
  const after = (await cluster.client.status()).members.find((m: any) => m.node === keeper.node);
  t.is(after.backlog.hints, held, 'the hint backlog is rebuilt from disk');

  await cluster.node('n3').start();
  await waitFor('hints delivered and every key on its owners', () => converged(cluster, values), { timeoutMs: 60_000, intervalMs: 500 });
  t.pass();
});

test.serial('handoff - the hint backlog is bounded: past its bound a node says so in its log and status, and writes still succeed', async (t) => {
  const cluster = await TestCluster.start({ nodes: 5, extraArgs: ['--hints-max', '5'] });
  t.teardown(() => cluster.stop());
  await cluster.node('n3').kill('SIGKILL');
  for (let i = 0; i < 100; i++) t.true((await cluster.client.put(`bounded-${i}`, `b${i}`)).ok);
  const s = await cluster.client.status();
  const up = s.members.filter((m: any) => m.state === 'up');
  t.true(up.every((m: any) => m.backlog.hints <= 5 && m.backlog.hintsMax === 5));
  const full = up.filter((m: any) => m.backlog.full);
  t.true(full.length > 0, 'some stand-in reached its bound');
  for (const m of full) {
    t.true(cluster.node(m.node).logs.some((l) => l.event === 'hint-backlog-full'), `${m.node} logged it`);
  }
});

test.serial('handoff - the hint backlog is bounded in bytes too: past it a node refuses to stand in, says so, and writes still succeed', async (t) => {
  const cluster = await TestCluster.start({ nodes: 5, extraArgs: ['--hint-bytes-max', '20000'] });
  t.teardown(() => cluster.stop());
  await cluster.node('n3').kill('SIGKILL');
  const value = 'v'.repeat(1000);
  for (let i = 0; i < 100; i++) t.true((await cluster.client.put(`bounded-bytes-${i}`, value)).ok);
  const s = await cluster.client.status();
  const up = s.members.filter((m: any) => m.state === 'up');
  t.true(up.every((m: any) => m.backlog.hintBytes <= 20_000 && m.backlog.hintBytesMax === 20_000), JSON.stringify(up.map((m: any) => m.backlog)));
  const full = up.filter((m: any) => m.backlog.full);
  t.true(full.length > 0, 'some stand-in reached its bound in bytes');
  for (const m of full) {
    const line = cluster.node(m.node).logs.find((l) => l.event === 'hint-backlog-full');
    t.truthy(line, `${m.node} logged it`);
    t.is(line.hintBytesMax, 20_000);
  }
  // Back, n3 gets what the stand-ins kept, and the bytes are given back.
  await cluster.node('n3').start();
  await waitFor('the hints delivered and their bytes released', async () => (await cluster.client.status()).members.every((m: any) => m.backlog?.hints === 0 && m.backlog.hintBytes === 0), { timeoutMs: 30_000, intervalMs: 250 });
});

test.serial('handoff - with W=1 a write succeeds while every owner of its key is down, and reaches the owners when they return', async (t) => {
  const cluster = await TestCluster.start({ nodes: 5 });
  t.teardown(() => cluster.stop());
  const key = 'no-owner-left';
  const keyOwners = owners(key);
  await Promise.all(keyOwners.map((o) => cluster.node(o).kill('SIGKILL')));
  // Only stand-ins are left: one of them coordinates and keeps the copy as hints.
  t.true((await cluster.client.put(key, 'kept by stand-ins', { w: 1 })).ok);
  t.deepEqual((await cluster.client.get(key, { r: 1 })).values, ['kept by stand-ins']);
  await Promise.all(keyOwners.map((o) => cluster.node(o).start()));
  await waitFor('the owners to hold the write and no hint left', async () => {
    for (const o of keyOwners) if (JSON.stringify((await cluster.client.peek(o, key)).values) !== '["kept by stand-ins"]') return false;
    return (await hintBacklog(cluster)) === 0;
  }, { timeoutMs: 30_000, intervalMs: 250 });
  t.pass();
});
