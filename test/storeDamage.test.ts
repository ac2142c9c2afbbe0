/**
 * A damaged lmdb store, as a power loss with `--sync periodic` or a bad disk leaves it: the node
 * must refuse it with words (a fatal log line and an error naming the store and the way back),
 * never crash on it silently, and come back once the operator has moved the store away.
 */
import test from 'ava';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, renameSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LmdbStorage } from '../src/storage/lmdb.ts';
import { checkLmdbStore, StoreDamagedError } from '../src/storage/lmdbCheck.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

const PAGE = 4096;

/** A closed store of `keys` entries in a fresh directory, removed when the test ends. */
async function storeWith(t: { teardown(fn: () => void): void }, keys: number): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'dkv-damage-')), 'store');
  t.teardown(() => rmSync(join(path, '..'), { recursive: true, force: true }));
  const s = new LmdbStorage<unknown>(path, { sync: 'periodic' });
  for (let i = 0; i < keys; i++) void s.put(i % 4, `key-${i}`, { i, pad: 'x'.repeat(100) });
  await s.close();
  return path;
}

function overwrite(file: string, from: number, length: number, byte: number): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, Buffer.alloc(length, byte), 0, length, from);
  } finally {
    closeSync(fd);
  }
}

test('store check - a sound store is read through and counted; no data file is a new store', async (t) => {
  const path = await storeWith(t, 500);
  const check = checkLmdbStore(path, 'identity.json');
  t.true(check.checked);
  t.is(check.entries, 500);
  const fresh = join(mkdtempSync(join(tmpdir(), 'dkv-damage-')), 'store');
  t.teardown(() => rmSync(join(fresh, '..'), { recursive: true, force: true }));
  t.deepEqual({ ...checkLmdbStore(fresh, 'identity.json'), ms: 0 }, { checked: false, entries: 0, ms: 0 });
});

// Each of these crashes or fails a process that opens the store and reads it. A reader that meets a
// bad page dies of SIGSEGV or SIGBUS, or of SIGABRT when one of lmdb's own assertions catches it
// first (seen once in a CI run, for the zeroed meta page): any of them is the damage.
const READER_CRASH = /crashed the reading process with SIG(SEGV|BUS|ABRT)/;
const damages: Array<{ what: string; damage: (data: string) => void; reason: RegExp }> = [
  { what: 'a zeroed first meta page', damage: (data) => overwrite(data, 0, PAGE, 0), reason: READER_CRASH },
  { what: 'garbage over the data pages', damage: (data) => overwrite(data, 2 * PAGE, statSync(data).size - 2 * PAGE, 0xab), reason: new RegExp(`${READER_CRASH.source}|lmdb: `) },
  { what: 'zeroed data pages', damage: (data) => overwrite(data, 2 * PAGE, statSync(data).size - 2 * PAGE, 0), reason: /lmdb: MDB_CORRUPTED|crashed/ },
  { what: 'a file cut after its meta pages', damage: (data) => truncateSync(data, 2 * PAGE), reason: /crashed the reading process with SIGBUS|lmdb: / },
  { what: 'a file cut inside its first page', damage: (data) => truncateSync(data, 100), reason: /100 bytes, shorter than lmdb's two meta pages/ },
];

for (const { what, damage, reason } of damages) {
  test(`store check - ${what} is reported as damage, and the checking process lives on`, async (t) => {
    const path = await storeWith(t, 500);
    damage(join(path, 'data.mdb'));
    const err = t.throws(() => checkLmdbStore(path), { instanceOf: StoreDamagedError });
    t.regex(err!.message, new RegExp(`the lmdb store at ${path} is damaged`));
    t.regex(err!.reason, reason);
  });
}

test('store check - a data file emptied or gone beside a store identity is damage, not a new store', async (t) => {
  const path = await storeWith(t, 10);
  writeFileSync(join(path, 'identity.json'), JSON.stringify({ actorId: 'n1.abcdef0' }));
  truncateSync(join(path, 'data.mdb'), 0);
  t.throws(() => checkLmdbStore(path, 'identity.json'), { instanceOf: StoreDamagedError, message: /data\.mdb is empty/ });
  rmSync(join(path, 'data.mdb'));
  t.throws(() => checkLmdbStore(path, 'identity.json'), { instanceOf: StoreDamagedError, message: /data\.mdb is missing/ });
  // Without an identity beside it, an empty directory is simply a store not created yet.
  t.false(checkLmdbStore(path).checked);
});

test('node - a damaged replica store stops the node with a fatal line and the way back; moved away, the node rejoins under a new identity', async (t) => {
  const cluster = await TestCluster.start({ nodes: 3 });
  t.teardown(() => cluster.stop());
  const keys = Array.from({ length: 20 }, (_, i) => `damaged-${i}`);
  for (const k of keys) await cluster.client.put(k, `v-${k}`);

  const n1 = cluster.node('n1');
  const storeDir = join(cluster.dir, 'n1', 'store');
  const identityBefore = JSON.parse(readFileSync(join(storeDir, 'identity.json'), 'utf8')).actorId;
  await n1.stop();
  overwrite(join(storeDir, 'data.mdb'), 0, PAGE, 0);

  const logsBefore = n1.logs.length;
  await t.throwsAsync(() => n1.start(), { message: /exited during start \(1\)/ });
  // 'exit' can come before the last lines have been read from the node's pipes.
  await waitFor('the storage-damaged line and the error on stderr', () => n1.logs.slice(logsBefore).some((l) => l.event === 'storage-damaged') && /move .* away/.test(n1.stderr.join('')), { timeoutMs: 5_000, intervalMs: 20 }).catch(() => undefined);
  const fatal = n1.logs.slice(logsBefore).find((l) => l.event === 'storage-damaged');
  t.truthy(fatal, 'a storage-damaged line');
  t.is(fatal.level, 60);
  t.is(fatal.store, 'replica');
  t.is(fatal.path, storeDir);
  t.regex(fatal.reason, READER_CRASH);
  const stderr = n1.stderr.join('');
  t.regex(stderr, /error: the lmdb store at .* is damaged .*; move .* away and start the node again/);

  // The operator's way back: move the store away; the node starts empty under a new identity.
  renameSync(storeDir, `${storeDir}.damaged`);
  await n1.start();
  const identityAfter = JSON.parse(readFileSync(join(storeDir, 'identity.json'), 'utf8')).actorId;
  t.not(identityAfter, identityBefore);
  t.true(existsSync(`${storeDir}.damaged`));
  for (const k of keys) t.deepEqual((await cluster.client.get(k)).values, [`v-${k}`], k);
  // Read repair refills n1's new store from the others.
  await waitFor('n1 to hold a repaired copy', async () => {
    const peek = await cluster.client.peek('n1', keys[0]!);
    return peek.values?.length === 1;
  }, { timeoutMs: 15_000 });
  // Restarted again, the refilled store is read through before the node serves.
  await n1.stop();
  const logsThird = n1.logs.length;
  await n1.start();
  const checked = n1.logs.slice(logsThird).find((l) => l.event === 'storage-checked' && l.store === 'replica');
  t.truthy(checked, 'a storage-checked line for the replica store');
  t.true(checked.entries >= 1);
});
