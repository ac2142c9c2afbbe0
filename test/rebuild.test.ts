/**
 * A lost disk is rebuilt by transfer (DESIGN.md §2, actors/transfer.ts): a node that starts with a
 * new store where the ring places partitions pulls them from the other replicas, says so in its
 * log and in `dkv status`, and is then whole: every key on it, read with `peek` once its
 * partitions are complete (a complete partition is read from the node's own store only). A
 * brand-new cluster, where every node's store is new, settles at once: nobody has anything to
 * pull. Anti-entropy is off here, so whatever comes back came by transfer.
 */
import test from 'ava';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { formatStatus } from '../src/cli/format.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--ae-interval-ms', '0'] });
});

test.after.always(async () => {
  await cluster?.stop();
});

const inProgress = async () => (await cluster.client.status()).transfers as Array<{ node: string; state: string; rebuild?: boolean }>;

async function putAll(keys: string[], value: (k: string) => string, w?: number): Promise<void> {
  for (let i = 0; i < keys.length; i += 500) {
    const results = await Promise.all(keys.slice(i, i + 500).map((k) => cluster.client.put(k, value(k), w !== undefined ? { w } : {})));
    if (!results.every((r) => r.ok)) throw new Error('a put failed');
  }
}

test.serial('rebuild - a brand-new cluster, every store new, settles with nothing pulled', async (t) => {
  await waitFor('no partition still being received', async () => (await inProgress()).length === 0, { timeoutMs: 30_000, intervalMs: 100 });
  for (const id of ['n1', 'n2', 'n3']) {
    // Status and the log travel apart (a reply, and the node's stdout read by this process): the
    // line may arrive a little after status shows the partitions complete.
    const logs = () => cluster.node(id).logs;
    await waitFor(`${id} to say its rebuild is over`, () => logs().some((l) => l.event === 'rebuild-complete'), { timeoutMs: 10_000 });
    t.true(logs().some((l) => l.event === 'store-rebuild'), `${id} said its store is new`);
    const keys = logs().filter((l) => l.event === 'transfer-complete').reduce((s, l) => s + l.keys, 0);
    t.is(keys, 0, `${id} pulled no key`);
  }
  // The first nodes up find each other new and settle; a node that comes later may pull the
  // (empty) partitions from them instead.
  const settled = ['n1', 'n2', 'n3'].map((id) => cluster.node(id).logs.filter((l) => l.event === 'rebuild-nothing-to-pull').length);
  t.true(settled.reduce((a, b) => a + b, 0) >= 64, `partitions found with nothing to pull, by node: ${settled.join(', ')}`);
});

test.serial('rebuild - a node that lost its disk pulls every partition back, says so, and holds every key; writes go on meanwhile', async (t) => {
  const keys = Array.from({ length: 3000 }, (_, i) => `rb-${i}`);
  await putAll(keys, (k) => `${k}-v`, 3);
  const n2 = cluster.node('n2');
  await n2.kill('SIGKILL');
  rmSync(join(cluster.dir, 'n2'), { recursive: true, force: true });
  const logsBefore = n2.logs.length;
  const gets = await cluster.requestsTotal('gets');
  await n2.start();

  // Writes go on while n2 rebuilds: every one is acknowledged and ends up on n2 too.
  const during = Array.from({ length: 300 }, (_, i) => `rb-during-${i}`);
  await putAll(during, (k) => `${k}-v`);
  const seen: string[] = [];
  await waitFor('n2 to hold every partition again', async () => {
    const now = await inProgress();
    const status = formatStatus({ ...(await cluster.client.status()), transfers: now });
    if (now.some((x) => x.node === 'n2' && x.rebuild)) seen.push(status);
    return now.length === 0;
  }, { timeoutMs: 60_000, intervalMs: 50 });

  // The log line may arrive a little after status shows the partitions complete (see above).
  await waitFor('n2 to log the end of the rebuild', () => n2.logs.slice(logsBefore).some((l) => l.event === 'rebuild-complete'), { timeoutMs: 10_000 }).catch(() => undefined);
  const logs = n2.logs.slice(logsBefore);
  const started = logs.find((l) => l.event === 'store-rebuild');
  t.truthy(started, 'n2 logged that its new store is being rebuilt');
  t.true(started!.partitions > 0);
  const done = logs.find((l) => l.event === 'rebuild-complete');
  t.truthy(done, 'n2 logged the end of the rebuild');
  const pulled = logs.filter((l) => l.event === 'transfer-complete' && l.rebuild).reduce((s, l) => s + l.keys, 0);
  t.true(pulled >= keys.length, `n2 pulled ${pulled} keys`);
  if (seen.length > 0) t.regex(seen[0]!, /n2 rebuilding its new store: receiving \d+ partitions/);

  for (const k of [...keys, ...during]) {
    const got = await cluster.client.peek('n2', k);
    if (got.values[0] !== `${k}-v`) t.fail(`${k} is not on n2: ${JSON.stringify(got.values)}`);
  }
  t.is(await cluster.requestsTotal('gets'), gets, 'no get was made: the keys came by transfer');
  // The share of its rate background work may use is in every member's status.
  const background = (await cluster.client.status()).members.find((m: any) => m.node === 'n2').background;
  t.true(background.allowance > 0 && background.allowance <= 1, JSON.stringify(background));
  t.is(background.targetMs, 50);
  t.true('hurting' in background.lastWindow);
  t.log(`n2 rebuilt ${pulled} keys in ${done!.ms} ms; ${seen.length} status polls saw it rebuilding`);
});
