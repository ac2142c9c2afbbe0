/**
 * Dynamo's write coordinator (§6.4) on real parts: a nats-server and four `dkv node` processes
 * (N = 3, so one node in four holds no replica of a key). A get's context names the owner that
 * answered first; the client library sends the next put or delete with that context to that
 * node, which coordinates it. Observed through each node's `requests.writes` (writes it
 * coordinated) and `requests.forwardedWrites` (writes it sent on) in `status`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { DkvClient } from '../src/client/client.ts';
import { contextCoordinator, decodeContext, encodeContext } from '../src/context.ts';
import { Ring } from '../src/ring.ts';
import { TestCluster } from './harness/cluster.ts';

const NODES = ['n1', 'n2', 'n3', 'n4'];
const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
/** A CLI call starts a Node process, loads tsx and makes one request: seconds at most. */
const CLI_TIMEOUT_MS = 20_000;
/** The client's deadline in these tests: a write to a node named but gone must land well within it. */
const CLIENT_TIMEOUT_MS = 6_000;

let cluster: TestCluster;
let client: DkvClient;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: NODES.length });
  client = await DkvClient.connect({ servers: cluster.nats.url, timeoutMs: CLIENT_TIMEOUT_MS });
});

test.after.always(async () => {
  await client?.close();
  await cluster?.stop();
});

type Figures = Record<string, { writes: number; forwardedWrites: number }>;

async function figures(): Promise<Figures> {
  const members: Array<{ node: string; requests?: Record<string, number> }> = (await client.status()).members;
  return Object.fromEntries(members.map((m) => [m.node, { writes: m.requests?.writes ?? 0, forwardedWrites: m.requests?.forwardedWrites ?? 0 }]));
}

async function ownersOf(key: string): Promise<readonly string[]> {
  const { n, assignment } = await client.raw('dkv.local.ring', {});
  const ring = new Ring(assignment);
  return ring.replicas(ring.partitionOf(key), n);
}

/** Writes each node coordinated (and sent on) between two snapshots. */
function delta(before: Figures, after: Figures): Figures {
  return Object.fromEntries(Object.keys(after).map((id) => [id, { writes: after[id]!.writes - (before[id]?.writes ?? 0), forwardedWrites: after[id]!.forwardedWrites - (before[id]?.forwardedWrites ?? 0) }]));
}

// Serial: each test reads counters that every write in the cluster moves.
test.serial('coordinator hint - a get names an owner that is up, and the put with its context is coordinated there, forwarded by no one', async (t) => {
  for (let i = 0; i < 12; i++) {
    const key = `hinted ${i}`;
    await client.put(key, 'first');
    const read = await client.get(key);
    const named = contextCoordinator(read.context);
    t.truthy(named, `the context of ${key} names a node`);
    t.true((await ownersOf(key)).includes(named!), `${named} is an owner of ${key}`);
    const before = await figures();
    const put = await client.put(key, 'second', { context: read.context });
    const moved = delta(before, await figures());
    t.deepEqual(moved[named!], { writes: 1, forwardedWrites: 0 }, `${key}: ${named} coordinated the write (${JSON.stringify(moved)})`);
    for (const id of NODES) if (id !== named) t.deepEqual(moved[id], { writes: 0, forwardedWrites: 0 }, `${key}: ${id} did nothing`);
    // The put's reply names the node that coordinated it: the next write goes there too.
    t.is(contextCoordinator(put.context), named);
    t.deepEqual((await client.get(key, { r: 3 })).values, ['second']);
  }
});

test.serial('coordinator hint - with the ring known and more nodes than N, writes of one turn are batched by the node named; a delete follows its hint too', async (t) => {
  const routed = await DkvClient.connect({ servers: cluster.nats.url, timeoutMs: CLIENT_TIMEOUT_MS, routing: true });
  t.teardown(() => routed.close());
  const keys = Array.from({ length: 8 }, (_, i) => `turn ${i}`);
  await Promise.all(keys.map((k) => routed.put(k, 'a')));
  const reads = await Promise.all(keys.map((k) => routed.get(k)));
  const named = reads.map((r) => contextCoordinator(r.context)!);
  const before = await figures();
  // One turn: puts for half, deletes for the other half, each with its read's context.
  await Promise.all(keys.map((k, i) => (i % 2 === 0 ? routed.put(k, 'b', { context: reads[i]!.context }) : routed.delete(k, { context: reads[i]!.context }))));
  const moved = delta(before, await figures());
  for (const id of NODES) {
    t.is(moved[id]!.writes, named.filter((x) => x === id).length, `${id} coordinated the writes that named it (${JSON.stringify(moved)})`);
    t.is(moved[id]!.forwardedWrites, 0);
  }
  for (const [i, k] of keys.entries()) t.deepEqual((await client.get(k, { r: 3 })).values, i % 2 === 0 ? ['b'] : []);
});

test.serial('coordinator hint - without the ring, a turn of writes naming several nodes stays one batch, to the node most of them name', async (t) => {
  const keys = Array.from({ length: 12 }, (_, i) => `one batch ${i}`);
  await Promise.all(keys.map((k) => client.put(k, 'a')));
  const reads = await Promise.all(keys.map((k) => client.get(k)));
  const named = reads.map((r) => contextCoordinator(r.context)!);
  const counts = new Map<string, number>();
  for (const x of named) counts.set(x, (counts.get(x) ?? 0) + 1);
  const top = [...counts].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  t.true(counts.size > 1, `the reads named several nodes: ${JSON.stringify([...counts])}`);
  const before = await figures();
  await Promise.all(keys.map((k, i) => client.put(k, 'b', { context: reads[i]!.context })));
  const moved = delta(before, await figures());
  // The node most named took all of them: it coordinated those it owns and sent the rest on.
  t.is(moved[top]!.writes + moved[top]!.forwardedWrites, keys.length, `${top} took the batch (${JSON.stringify(moved)})`);
  for (const k of keys) t.deepEqual((await client.get(k, { r: 3 })).values, ['b']);
});

test.serial('coordinator hint - dkv put and delete --context C go to the node C names', async (t) => {
  const dkv = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [BIN, ...args, '--nats', cluster.nats.url, '--json'], { timeout: CLI_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => (err ? reject(new Error(`dkv ${args[0]}: ${stderr}`)) : resolve(stdout))),
    );
  const key = 'cli hinted';
  await client.put(key, 'a');
  for (const [op, args] of [['put', ['put', key, 'b']], ['delete', ['delete', key]]] as const) {
    const read = await client.get(key);
    const named = contextCoordinator(read.context)!;
    const before = await figures();
    const reply = JSON.parse(await dkv([...args, '--context', read.context]));
    t.true(reply.ok, `${op}: the protocol reply as is: ${JSON.stringify(reply)}`);
    const moved = delta(before, await figures());
    t.deepEqual(moved[named], { writes: 1, forwardedWrites: 0 }, `${op}: ${named} coordinated it (${JSON.stringify(moved)})`);
  }
  t.deepEqual((await client.get(key, { r: 3 })).values, []);
});

test.serial('coordinator hint - off: the client ignores it and the write goes to the queue group', async (t) => {
  const off = await DkvClient.connect({ servers: cluster.nats.url, coordinatorHints: false });
  t.teardown(() => off.close());
  const key = 'not followed';
  await off.put(key, 'a');
  const read = await off.get(key);
  t.truthy(contextCoordinator(read.context), 'the node still names one');
  await off.put(key, 'b', { context: read.context });
  t.deepEqual((await off.get(key, { r: 3 })).values, ['b']);
});

test.serial('coordinator hint - an old "c1" context still supersedes what it was read from', async (t) => {
  const key = 'old context';
  await client.put(key, 'a');
  const read = await client.get(key);
  const old = encodeContext(decodeContext(read.context));
  t.regex(old, /^c1/);
  await client.put(key, 'b', { context: old });
  t.deepEqual((await client.get(key, { r: 3 })).values, ['b']);
  await client.delete(key, { context: encodeContext(decodeContext((await client.get(key)).context)) });
  t.deepEqual((await client.get(key, { r: 3 })).values, []);
});

test.serial('coordinator hint - a context naming a node that is unknown or down still writes, through the queue group, within the deadline', async (t) => {
  const key = 'named node gone';
  await client.put(key, 'a');
  const vv = decodeContext((await client.get(key)).context);
  const ghostStartedMs = Date.now();
  await client.put(key, 'b', { context: encodeContext(vv, 'ghost') });
  t.true(Date.now() - ghostStartedMs < CLIENT_TIMEOUT_MS, 'no node named ghost: answered within the deadline');
  t.deepEqual((await client.get(key, { r: 3 })).values, ['b']);

  // A member that is down: its subscriptions gone, the hint meets "no responders".
  const down = (await ownersOf(key))[0]!;
  await cluster.node(down).kill('SIGKILL');
  const read = await client.get(key);
  t.not(contextCoordinator(read.context), down, 'a node that is down answers no read');
  const startedMs = Date.now();
  await client.put(key, 'c', { context: encodeContext(decodeContext(read.context), down) });
  t.true(Date.now() - startedMs < CLIENT_TIMEOUT_MS, `${down} is down: answered within the deadline`);
  t.deepEqual((await client.get(key)).values, ['c']);
});
