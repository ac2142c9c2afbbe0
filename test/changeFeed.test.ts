/**
 * The change feed on real node processes: every acknowledged write of 1,000 from four clients
 * appears on `dkv.<cluster>.changes.>`, siblings as siblings, deletes as deleted; events are
 * published on the key's partition; `dkv watch` prints them and filters by prefix.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { DkvClient } from '../src/client/client.ts';
import type { ChangeEvent } from '../src/changeFeed.ts';
import { Ring } from '../src/ring.ts';
import { TestCluster } from './harness/cluster.ts';
import { BIN } from './harness/nodeProcess.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

/** A watcher of its own, on its own connection: every event seen, by key. */
async function watcher(prefix?: string) {
  const c = await DkvClient.connect({ servers: cluster.nats.url });
  const seen = new Map<string, ChangeEvent[]>();
  const subjects = new Map<string, string>();
  const sub = c.nc.subscribe(c.subjects.changesAll, { callback: (err, msg) => { if (!err) subjects.set(JSON.parse(new TextDecoder().decode(msg.data)).key, msg.subject); } });
  c.watch((e) => seen.set(e.key, [...(seen.get(e.key) ?? []), e]), prefix !== undefined ? { prefix } : {});
  await c.nc.flush();
  return { seen, subjects, close: async () => { sub.unsubscribe(); await c.close(); } };
}

test.serial('changes - every acknowledged write of 1,000 from four clients appears, on its partition', async (t) => {
  const w = await watcher('feed-');
  const clients = await Promise.all([0, 1, 2, 3].map(() => DkvClient.connect({ servers: cluster.nats.url })));
  const acked: Array<[string, string]> = [];
  await Promise.all(
    clients.map(async (c, ci) => {
      for (let chunk = 0; chunk < 5; chunk++) {
        await Promise.all(
          Array.from({ length: 50 }, async (_, i) => {
            const key = `feed-${ci}-${chunk * 50 + i}`;
            const value = `value ${ci}.${chunk * 50 + i}`;
            await c.put(key, value);
            acked.push([key, value]);
          }),
        );
      }
    }),
  );
  t.is(acked.length, 1000);
  const missing = () => acked.filter(([k, v]) => !(w.seen.get(k) ?? []).some((e) => e.values.includes(v)));
  await waitFor('every acknowledged write on the feed', () => missing().length === 0, { timeoutMs: 15_000, intervalMs: 50 }).catch(() => t.fail(`${missing().length} acknowledged writes not seen, e.g. ${JSON.stringify(missing().slice(0, 3))}`));
  // Published on the key's partition (the ring's assignment covers Q partitions).
  const ring = await clients[0]!.raw(clients[0]!.subjects.ring, {});
  const r = new Ring(ring.assignment);
  for (const [k] of acked.slice(0, 50)) t.is(w.subjects.get(k), `dkv.local.changes.${r.partitionOf(k)}`, k);
  for (const e of [...w.seen.values()].flat()) t.false(e.deleted);
  await Promise.all(clients.map((c) => c.close()));
  await w.close();
});

test.serial('changes - with a node down, the writes the others coordinate still appear', async (t) => {
  const w = await watcher('down-');
  const n2 = cluster.node('n2');
  await n2.kill('SIGKILL');
  const acked: Array<[string, string]> = [];
  try {
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        await cluster.client.put(`down-${i}`, `v${i}`);
        acked.push([`down-${i}`, `v${i}`]);
      }),
    );
  } finally {
    await n2.start();
    await cluster.settled();
  }
  t.is(acked.length, 200);
  const missing = () => acked.filter(([k, v]) => !(w.seen.get(k) ?? []).some((e) => e.values.includes(v)));
  await waitFor('every acknowledged write on the feed', () => missing().length === 0, { timeoutMs: 15_000, intervalMs: 50 }).catch(() => t.fail(`${missing().length} acknowledged writes not seen`));
  await w.close();
});

test.serial('changes - siblings as siblings, a delete as deleted, base64 as base64; a prefix filters', async (t) => {
  const w = await watcher('sib-');
  const other = await watcher();
  const a = cluster.client;
  const b = await DkvClient.connect({ servers: cluster.nats.url });
  // On every replica first, so the second writer's coordinator holds it: the sibling is certain.
  await a.put('sib-key', 'from a', { w: 3 });
  await b.put('sib-key', 'from b');
  await waitFor('the sibling event', () => (w.seen.get('sib-key') ?? []).some((e) => e.values.length === 2), { timeoutMs: 10_000 });
  const sibling = w.seen.get('sib-key')!.find((e) => e.values.length === 2)!;
  t.deepEqual([...sibling.values].sort(), ['from a', 'from b']);
  t.false(sibling.deleted);

  const read = await a.get('sib-key');
  t.is(read.values.length, 2);
  await a.delete('sib-key', { context: read.context });
  await waitFor('the delete event', () => (w.seen.get('sib-key') ?? []).some((e) => e.deleted), { timeoutMs: 10_000 });
  t.deepEqual(w.seen.get('sib-key')!.find((e) => e.deleted)!.values, []);

  await a.put('sib-bytes', Buffer.from([0, 255, 1]).toString('base64'), { encoding: 'base64' });
  await waitFor('the base64 event', () => w.seen.has('sib-bytes'), { timeoutMs: 10_000 });
  t.like(w.seen.get('sib-bytes')![0], { values: ['AP8B'], encoding: 'base64' });

  await a.put('elsewhere', 'x');
  await waitFor('the unfiltered watcher to see it', () => other.seen.has('elsewhere'), { timeoutMs: 10_000 });
  t.false(w.seen.has('elsewhere'), 'the prefix left it out');
  await b.close();
  await Promise.all([w.close(), other.close()]);
});

test.serial('changes - dkv watch prints them, --json as the event', async (t) => {
  const child = spawn(process.execPath, [BIN, 'watch', '--prefix', 'cli-', '--json'], { env: { ...process.env, DKV_NATS_URL: cluster.nats.url } });
  t.teardown(() => child.kill('SIGKILL'));
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  await waitFor('dkv watch to be subscribed', () => err.includes('watching'), { timeoutMs: 15_000 });
  await cluster.client.put('not-cli', 'hidden');
  await cluster.client.put('cli-key', 'shown');
  await waitFor('the event printed', () => out.includes('\n'), { timeoutMs: 10_000 });
  const lines = out.trim().split('\n').map((l) => JSON.parse(l));
  t.is(lines.length, 1, out);
  t.like(lines[0], { key: 'cli-key', values: ['shown'], deleted: false });
  t.is(typeof lines[0].context, 'string');
  child.kill('SIGINT');
  const code = await new Promise((r) => child.once('exit', (c) => r(c)));
  t.is(code, 0, 'Ctrl-C stops it cleanly');
});
