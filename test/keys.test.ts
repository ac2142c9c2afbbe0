/**
 * Key listing on a real cluster: four node processes on a real nats-server. 10,000 keys of every
 * shape a subject would choke on, a few hundred deleted, then one node SIGKILLed: the listing
 * still names every live key exactly once, in code point order, through the library and the CLI.
 * With four nodes and N = 3 each coordinator holds three quarters of the partitions and must ask
 * its peers for the rest, the killed one among them.
 *
 * A replica that is up but silent is played by the test itself: n4 is killed and the test
 * answers n4's heartbeats, so the other nodes count it up, but never its scans (or answers them
 * with junk). A stopped process (SIGSTOP) would not do: it stays in the client queue group and
 * would time out the client's own requests, whatever the listing does.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compareCodePoints } from '../src/keyListing.ts';
import { encodeInternal } from '../src/wire.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
const KEYS = 10_000;
const SHAPES = ['user.', 'with space ', 'star*', 'gt>', 'ünï ', '\u{1F600}', '\uFFFD', 'a.b.*.>'];
const keyOf = (i: number) => `${SHAPES[i % SHAPES.length]}${i}`;

function dkv(args: string[], natsUrl: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DKV_'))), DKV_NATS_URL: natsUrl };
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env, timeout: 60_000, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as any).code === 'number' ? (err as any).code : null) : 0, stdout, stderr });
    });
  });
}

test.serial('keys - 10,000 keys listed exactly once each, in order, deleted ones left out, with one node killed', async (t) => {
  const cluster = await TestCluster.start({ nodes: 4 });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  const keys = Array.from({ length: KEYS }, (_, i) => keyOf(i));
  // The client library pipelines calls of one turn into batches: a thousand at a time.
  for (let i = 0; i < KEYS; i += 1000) await Promise.all(keys.slice(i, i + 1000).map((k) => c.put(k, 'v', { w: 3 })));
  const deleted = new Set(keys.filter((_, i) => i % 29 === 5));
  t.true(deleted.size > 300);
  // A delete with no context supersedes nothing: read first, then delete what was read.
  await Promise.all([...deleted].map(async (k) => c.delete(k, { context: (await c.get(k)).context, w: 3 })));
  const expected = keys.filter((k) => !deleted.has(k)).sort(compareCodePoints);

  // Nothing down: the first page, and after/limit.
  const first = await c.keys({ limit: 10 });
  t.deepEqual(first, { keys: expected.slice(0, 10), next: expected[9] });
  t.deepEqual((await c.keys({ after: expected[9], limit: 5 })).keys, expected.slice(10, 15));
  const last = await c.keys({ after: expected[expected.length - 3], limit: 5 });
  t.deepEqual(last, { keys: expected.slice(-2), next: null });

  await cluster.node('n4').kill('SIGKILL');

  const listed: string[] = [];
  for await (const k of c.allKeys()) listed.push(k);
  t.is(listed.length, expected.length);
  t.deepEqual(listed, expected);
  t.is(new Set(listed).size, listed.length, 'each once');
  // Coordinators asked their peers for the partitions they do not hold: scans ran on several nodes.
  const figures = (await c.status()).members.map((m: any) => m.keyListing).filter(Boolean);
  t.true(figures.reduce((sum: number, f: any) => sum + f.listings, 0) >= Math.ceil(expected.length / 1000));
  t.true(figures.filter((f: any) => f.scans > 0).length >= 2, JSON.stringify(figures));

  // A prefix with wildcards and dots in it, through the CLI.
  const prefix = 'a.b.*.>';
  const cli = await dkv(['keys', '--prefix', prefix, '--limit', '100'], cluster.nats.url);
  t.is(cli.code, 0, cli.stderr);
  t.deepEqual(cli.stdout.split('\n').filter(Boolean), expected.filter((k) => k.startsWith(prefix)));
  const astral = [];
  for await (const k of c.allKeys({ prefix: '\u{1F600}', limit: 333 })) astral.push(k);
  t.deepEqual(astral, expected.filter((k) => k.startsWith('\u{1F600}')));
});

for (const mode of ['silent', 'junk'] as const) test.serial(`keys - a replica the failure detector counts up but whose scans are ${mode} has its partitions asked of another owner`, async (t) => {
  const cluster = await TestCluster.start({ nodes: 4, storage: 'memory' });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  const keys = Array.from({ length: 2000 }, (_, i) => keyOf(i));
  for (let i = 0; i < keys.length; i += 1000) await Promise.all(keys.slice(i, i + 1000).map((k) => c.put(k, 'v', { w: 3 })));
  await cluster.node('n4').kill('SIGKILL');
  // The impostor: heartbeats answered, scans not (or with a reply no scan would give).
  c.nc.subscribe('dkv.local.internal.n4.ping', { callback: (_err, msg) => void msg.respond(new Uint8Array(0)) });
  c.nc.subscribe('dkv.local.internal.n4.keys', { callback: (_err, msg) => void (mode === 'junk' && msg.respond(encodeInternal({ keys: ['zzz', 'aaa'], next: null, refused: [] }))) });
  await c.nc.flush();
  // A heartbeat sent between the kill and the impostor's subscription marks n4 down at once (no
  // responders); the listing asks it only once the nodes count it up again.
  await waitFor('every live node counting the impostor up', async () => {
    const views = ((await c.status()).members as Array<{ node: string; view?: Array<{ node: string; status: string }> }>).filter((m) => m.node !== 'n4' && Array.isArray(m.view));
    return views.length === 3 && views.every((m) => m.view!.find((v) => v.node === 'n4')?.status === 'up');
  });

  const listed: string[] = [];
  for await (const k of c.allKeys({ limit: 500 })) listed.push(k);
  t.deepEqual(listed, [...keys].sort(compareCodePoints));
  const figures = (await c.status()).members.map((m: any) => m.keyListing).filter(Boolean);
  t.true(figures.reduce((sum: number, f: any) => sum + f.fallbacks, 0) > 0, JSON.stringify(figures));
});

test.serial('keys - bad requests are bad_request and change nothing; the CLI prints awkward keys as JSON', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3, storage: 'memory' });
  t.teardown(() => cluster.stop());
  const c = cluster.client;
  await Promise.all(['x', 'line\nbreak', '"quoted', 'tab\there', 'plain key'].map((k) => c.put(k, 'v')));
  const before = await c.keys();
  t.deepEqual(before, { keys: ['"quoted', 'line\nbreak', 'plain key', 'tab\there', 'x'], next: null });
  for (const body of [{ limit: 1001 }, { limit: 0 }, { limit: 2.5 }, { limit: '10' }, { prefix: 7 }, { after: ['x'] }, { after: '' }, { prefix: 'p'.repeat(1025) }, { after: '\u{1F600}'.repeat(257) }]) {
    const reply = await c.raw(c.subjects.keys, body);
    t.is(reply.error?.code, 'bad_request', JSON.stringify(body));
  }
  t.is((await c.raw(c.subjects.keys, new TextEncoder().encode('not json'))).error?.code, 'bad_request');
  t.deepEqual(await c.keys(), before);
  t.true(cluster.nodes.every((n) => n.running));

  const cli = await dkv(['keys'], cluster.nats.url);
  t.is(cli.code, 0, cli.stderr);
  t.deepEqual(cli.stdout.split('\n').filter(Boolean), ['"\\"quoted"', '"line\\nbreak"', 'plain key', '"tab\\there"', 'x']);
  const json = await dkv(['keys', '--json', '--limit', '2'], cluster.nats.url);
  t.deepEqual(json.stdout.trim().split('\n').map((l) => JSON.parse(l)), [
    { keys: ['"quoted', 'line\nbreak'], next: 'line\nbreak' },
    { keys: ['plain key', 'tab\there'], next: 'tab\there' },
    { keys: ['x'], next: null },
  ]);
  const bad = await dkv(['keys', '--limit', '5000'], cluster.nats.url);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /error \(bad_request\): "limit" must be an integer in 1\.\.1000/);
});
