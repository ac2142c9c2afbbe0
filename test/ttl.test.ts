/**
 * Expiry (`"ttl_ms"`) on real node processes: a version reads as not found once expired, also
 * with a replica down during the expiry that comes back with its copy; siblings expire on their
 * own; an expired key is reaped like a delete and a later write is not shadowed by it; the CLI's
 * `--ttl`.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { encodeContext } from '../src/context.ts';
import { TestCluster } from './harness/cluster.ts';
import { BIN } from './harness/nodeProcess.ts';
import { waitFor } from './harness/wait.ts';

const run = promisify(execFile);
let cluster: TestCluster;

test.before(async () => {
  // A short tombstone grace and fast exchanges, so that the reaping is seen; the defaults are 1 h and 1 s.
  cluster = await TestCluster.start({ nodes: 3, extraArgs: ['--ae-interval-ms', '50', '--tombstone-grace-ms', '300'] });
});

test.after.always(async () => {
  await cluster?.stop();
});

const TTL_MS = 1500;

test.serial('ttl - found until it expires, then not found, with a replica down during the expiry', async (t) => {
  const c = cluster.client;
  const written = Date.now();
  await c.put('ttl-a', 'soon gone', { ttl_ms: TTL_MS, w: 3 });
  const n3 = cluster.node('n3');
  await n3.kill('SIGKILL');
  t.deepEqual((await c.get('ttl-a')).values, ['soon gone'], 'found before its time');
  await waitFor('the value to expire', async () => !(await c.get('ttl-a')).found, { timeoutMs: 15_000, intervalMs: 100 });
  t.true(Date.now() - written >= TTL_MS - 50, `expired after ${Date.now() - written} ms, not before its ${TTL_MS} ms`);
  await n3.start();
  await cluster.settled();
  // n3 comes back with its copy; expired everywhere, it never reads as found again.
  const read = await c.get('ttl-a', { r: 3 });
  t.false(read.found);
  t.deepEqual(read.values, []);
  t.deepEqual((await c.peek('n3', 'ttl-a')).values, []);
  t.deepEqual((await c.keys({ prefix: 'ttl-a' })).keys, [], 'an expired key is not listed');
});

test.serial('ttl - siblings expire on their own', async (t) => {
  const c = cluster.client;
  await c.put('ttl-siblings', 'lasting');
  await c.put('ttl-siblings', 'fleeting', { ttl_ms: TTL_MS });
  t.deepEqual([...(await c.get('ttl-siblings')).values].sort(), ['fleeting', 'lasting']);
  await waitFor('the fleeting sibling to expire', async () => (await c.get('ttl-siblings')).values.length === 1, { timeoutMs: 15_000, intervalMs: 100 });
  t.deepEqual((await c.get('ttl-siblings', { r: 3 })).values, ['lasting']);
  // Key listing counts a key while any version of it is live.
  t.deepEqual((await c.keys({ prefix: 'ttl-siblings' })).keys, ['ttl-siblings']);
  // A put over a fresh value with a TTL makes that key expire; one without makes it last again.
  const got = await c.get('ttl-siblings');
  await c.put('ttl-siblings', 'lasting, renewed', { context: got.context });
  t.deepEqual((await c.get('ttl-siblings', { r: 3 })).values, ['lasting, renewed']);
});

test.serial('ttl - an expired key is reaped on every replica like a delete, and a new write is not shadowed', async (t) => {
  const c = cluster.client;
  await c.put('ttl-reaped', 'temporary', { ttl_ms: 300, w: 3 });
  await waitFor('no replica to hold the expired version', async () => {
    for (const id of ['n1', 'n2', 'n3']) if ((await c.peek(id, 'ttl-reaped')).context !== encodeContext([])) return false;
    return true;
  }, { timeoutMs: 30_000, intervalMs: 200 });
  const reaped = (await c.status()).members.reduce((s: number, m: any) => s + m.antiEntropy.tombstonesReaped, 0);
  t.true(reaped > 0, `${reaped} reaped`);
  await c.put('ttl-reaped', 'permanent');
  t.deepEqual((await c.get('ttl-reaped', { r: 3 })).values, ['permanent']);
});

test.serial('ttl - bad ones are bad_request and change nothing; the CLI takes --ttl', async (t) => {
  const c = cluster.client;
  await c.put('ttl-bad', 'kept');
  for (const ttl of [-1, 0, 2.5, '10s']) t.is((await c.raw(c.subjects.put, { key: 'ttl-bad', value: 'x', ttl_ms: ttl })).error?.code, 'bad_request', `ttl_ms ${ttl}`);
  t.deepEqual((await c.get('ttl-bad', { r: 3 })).values, ['kept']);

  const env = { ...process.env, DKV_NATS_URL: cluster.nats.url };
  await run(process.execPath, [BIN, 'put', 'ttl-cli', 'from the CLI', '--ttl', '1s'], { env });
  t.deepEqual((await c.get('ttl-cli')).values, ['from the CLI']);
  await waitFor('the CLI value to expire', async () => !(await c.get('ttl-cli')).found, { timeoutMs: 15_000, intervalMs: 100 });
  const refused = await run(process.execPath, [BIN, 'put', 'ttl-cli', 'x', '--ttl', 'soon'], { env }).then(() => undefined, (err) => err);
  t.truthy(refused, 'a bad duration fails');
  t.regex(refused.stderr, /not a duration/);
  t.false((await c.get('ttl-cli')).found, 'and sends nothing');
});
