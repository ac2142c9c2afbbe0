import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StorageEngine, StorageKind } from '../src/storage/engine.ts';
import { openStorage } from '../src/storage/open.ts';
import { LmdbStorage, SYNC_MODES, type SyncMode } from '../src/storage/lmdb.ts';
import { waitFor } from './harness/wait.ts';

/** Every engine, and lmdb in both sync modes: `periodic` commits on this thread, `always` in lmdb-js's. */
const variants: { label: string; kind: StorageKind; sync?: SyncMode }[] = [
  { label: 'lmdb', kind: 'lmdb' },
  { label: 'lmdb periodic', kind: 'lmdb', sync: 'periodic' },
  { label: 'lmdb one', kind: 'lmdb', sync: 'one' },
  { label: 'memory', kind: 'memory' },
];

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-storage-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Opens a store that is closed (and its directory removed) when the test ends. */
function openFor(t: ExecutionContext, kind: StorageKind, sync?: SyncMode): StorageEngine<unknown> {
  const path = kind === 'lmdb' ? join(mkdtempSync(join(tmpdir(), 'dkv-storage-')), 'data.db') : undefined;
  const store = openStorage<unknown>({ kind, path, ...(sync ? { sync } : {}) });
  t.teardown(async () => {
    await store.close().catch(() => undefined);
    if (path) rmSync(join(path, '..'), { recursive: true, force: true });
  });
  return store;
}

const oddKeys = [
  'a.b.c', '*', '>', 'a.*.>', 'with space', ' ', 'ünïcødé', '日本語', '😀', '__proto__',
  'constructor', 'toString', 'hasOwnProperty', 'a/b', '0/x', 'tab\tnl\n', 'nul\u0000byte',
];

for (const { label, kind, sync } of variants) {
  const name = (behaviour: string) => `storage(${label}) - ${behaviour}`;

  test(name('put then get returns the value'), async (t) => {
    const s = openFor(t, kind, sync);
    await s.put(1, 'k', { v: 'hello', n: 3 });
    t.deepEqual(s.get(1, 'k'), { v: 'hello', n: 3 });
  });

  test(name('a second put overwrites the first'), async (t) => {
    const s = openFor(t, kind, sync);
    await s.put(1, 'k', 'one');
    await s.put(1, 'k', 'two');
    t.is(s.get(1, 'k'), 'two');
    t.is(s.count(1), 1);
  });

  test(name('remove deletes the entry'), async (t) => {
    const s = openFor(t, kind, sync);
    await s.put(1, 'k', 'v');
    await s.put(1, 'other', 'v');
    await s.remove(1, 'k');
    t.is(s.get(1, 'k'), undefined);
    t.deepEqual([...s.entries(1)], [['other', 'v']]);
    await s.remove(1, 'never-there');
    t.is(s.count(1), 1);
  });

  test(name('a missing key or partition reads as undefined'), (t) => {
    const s = openFor(t, kind, sync);
    t.is(s.get(1, 'nope'), undefined);
    t.deepEqual([...s.entries(7)], []);
    t.is(s.count(7), 0);
  });

  test(name('keys with dots, wildcards, spaces, unicode and prototype names are plain data'), async (t) => {
    const s = openFor(t, kind, sync);
    await Promise.all(oddKeys.map((k, i) => s.put(2, k, `value-${i}`)));
    oddKeys.forEach((k, i) => t.is(s.get(2, k), `value-${i}`, JSON.stringify(k)));
    t.deepEqual([...s.entries(2)].map(([k]) => k).sort(), [...oddKeys].sort());
    t.is(s.count(2), oddKeys.length);
    t.is(s.get(2, 'valueOf'), undefined);
  });

  test(name('1024-byte keys are stored'), async (t) => {
    const s = openFor(t, kind, sync);
    const keys = ['k'.repeat(1024), 'é'.repeat(512), '😀'.repeat(256)];
    for (const k of keys) t.is(Buffer.byteLength(k, 'utf8'), 1024);
    for (const k of keys) await s.put(3, k, k.slice(0, 4));
    for (const k of keys) t.is(s.get(3, k), k.slice(0, 4));
    t.is(s.count(3), keys.length);
  });

  test(name('reads see writes before their promises resolve'), async (t) => {
    const s = openFor(t, kind, sync);
    const first = s.put(1, 'k', 'staged');
    t.is(s.get(1, 'k'), 'staged');
    const second = s.put(1, 'k', 'newer');
    t.is(s.get(1, 'k'), 'newer');
    const gone = s.remove(1, 'k');
    t.is(s.get(1, 'k'), undefined);
    const back = s.put(1, 'k', 'back');
    t.is(s.get(1, 'k'), 'back');
    // An older write settling must not hide a newer staged one.
    await first;
    t.is(s.get(1, 'k'), 'back');
    await Promise.all([second, gone, back]);
    t.is(s.get(1, 'k'), 'back');
  });

  test(name('entries are ordered by code point and isolated per partition'), async (t) => {
    const s = openFor(t, kind, sync);
    // U+FFFD sorts before U+1F600 by code point, though after its surrogates in UTF-16.
    const keys = ['b', 'a', 'B', 'ab', 'a b', '\uFFFD', '😀', 'z', 'é', '10', '9'];
    await Promise.all(keys.map((k) => s.put(5, k, `p5:${k}`)));
    await Promise.all([s.put(4, 'a', 'p4'), s.put(6, 'a', 'p6'), s.put(50, 'a', 'p50')]);
    const expected = ['10', '9', 'B', 'a', 'a b', 'ab', 'b', 'z', 'é', '\uFFFD', '😀'];
    t.deepEqual([...s.entries(5)], expected.map((k) => [k, `p5:${k}`]));
    t.deepEqual([...s.entries(4)], [['a', 'p4']]);
    t.deepEqual([...s.entries(6)], [['a', 'p6']]);
  });

  test(name('entries resume after a cursor, whether or not the cursor key exists'), async (t) => {
    const s = openFor(t, kind, sync);
    const keys = ['a', 'ab', 'b', 'c', 'é', '😀'];
    await Promise.all(keys.map((k) => s.put(3, k, k)));
    await s.put(4, 'zz', 'other');
    t.deepEqual([...s.entries(3, 'ab')].map(([k]) => k), ['b', 'c', 'é', '😀']);
    t.deepEqual([...s.entries(3, 'aa')].map(([k]) => k), ['ab', 'b', 'c', 'é', '😀']);
    t.deepEqual([...s.entries(3, '😀')], []);
    t.deepEqual([...s.entries(3, '')].map(([k]) => k), keys);
    // Paging by the last key seen lists every key exactly once.
    const paged: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = [...s.entries(3, cursor)].slice(0, 2).map(([k]) => k);
      if (page.length === 0) break;
      paged.push(...page);
      cursor = page[page.length - 1];
    }
    t.deepEqual(paged, keys);
  });

  test(name('count follows puts and removes per partition'), async (t) => {
    const s = openFor(t, kind, sync);
    for (let i = 0; i < 25; i++) await s.put(8, `k${i}`, i);
    await s.put(9, 'k0', 0);
    await s.put(8, 'k0', 'again');
    await s.remove(8, 'k1');
    t.is(s.count(8), 24);
    t.is(s.count(9), 1);
  });

  test(name('Uint8Array and null values round-trip'), async (t) => {
    const s = openFor(t, kind, sync);
    const bytes = new Uint8Array([0, 1, 2, 254, 255]);
    await s.put(1, 'bytes', bytes);
    await s.put(1, 'null', null);
    await s.put(1, 'nested', { data: new Uint8Array([9, 8]), list: [null, 1, 'x'] });
    await s.flush();
    const got = s.get(1, 'bytes');
    t.true(got instanceof Uint8Array);
    t.deepEqual([...(got as Uint8Array)], [...bytes]);
    t.is(s.get(1, 'null'), null);
    const nested = s.get(1, 'nested') as { data: Uint8Array; list: unknown[] };
    t.true(nested.data instanceof Uint8Array);
    t.deepEqual([...nested.data], [9, 8]);
    t.deepEqual(nested.list, [null, 1, 'x']);
    t.is(s.count(1), 3);
  });

  test(name('many concurrent puts to one key end at the last'), async (t) => {
    const s = openFor(t, kind, sync);
    const writes = Array.from({ length: 300 }, (_, i) => s.put(1, 'hot', i));
    t.is(s.get(1, 'hot'), 299);
    await Promise.all(writes);
    t.is(s.get(1, 'hot'), 299);
    t.deepEqual([...s.entries(1)], [['hot', 299]]);
  });
}

for (const sync of SYNC_MODES) test(`storage(lmdb) - data survives close and reopen (sync ${sync})`, async (t) => {
  const path = join(tempDir(t), 'data.db');
  const first = openStorage<unknown>({ kind: 'lmdb', path, sync });
  await first.put(1, 'a', { v: 1 });
  await first.put(1, 'b', new Uint8Array([7]));
  void first.put(2, 'c', 'unawaited');
  void first.remove(1, 'a');
  for (let i = 0; i < 50; i++) void first.put(3, 'hot', i);
  await first.close();

  const second = openStorage<unknown>({ kind: 'lmdb', path });
  t.teardown(() => second.close());
  t.is(second.get(1, 'a'), undefined);
  t.deepEqual([...(second.get(1, 'b') as Uint8Array)], [7]);
  t.is(second.get(2, 'c'), 'unawaited');
  t.is(second.get(3, 'hot'), 49);
  t.is(second.count(1), 1);
});

for (const sync of SYNC_MODES) test(`storage(lmdb) - acknowledged writes survive SIGKILL (sync ${sync})`, async (t) => {
  const path = join(tempDir(t), 'data.db');
  const writer = fileURLToPath(new URL('./fixtures/storage-writer.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', writer, path, '200', sync], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  t.teardown(() => void child.kill('SIGKILL'));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

  const acked = await killAfterAcks(child, 100, 60_000);
  t.is(await exited, 'SIGKILL');
  t.true(acked >= 100);

  const store = openStorage<string>({ kind: 'lmdb', path });
  t.teardown(() => store.close());
  const missing: number[] = [];
  for (let i = 0; i < acked; i++) if (store.get(0, `key-${i}`) !== `value-${i}`) missing.push(i);
  t.deepEqual(missing, [], `${acked} acknowledged`);
  t.true(store.count(0) >= acked);
});

test('storage(lmdb) - sync periodic: a write resolves once committed, and an fsync follows within the interval', async (t) => {
  const path = join(tempDir(t), 'data.db');
  const s = new LmdbStorage<unknown>(path, { sync: 'periodic', syncIntervalMs: 20 });
  t.is(s.sync, 'periodic');
  await s.put(1, 'a', { v: 1 });
  await s.put(1, 'b', 'two');
  await waitFor('an fsync after the writes', () => s.syncs >= 1, { timeoutMs: 5_000, intervalMs: 5 });
  const after = s.syncs;
  await s.put(1, 'c', 3);
  await waitFor('another fsync after a later write', () => s.syncs > after, { timeoutMs: 5_000, intervalMs: 5 });
  await s.close();

  const again = new LmdbStorage<unknown>(path);
  t.teardown(() => again.close());
  t.is(again.sync, 'always');
  t.deepEqual([again.get(1, 'a'), again.get(1, 'b'), again.get(1, 'c')], [{ v: 1 }, 'two', 3]);
});

for (const sync of ['periodic', 'one'] as const) {
  test(`storage(lmdb) - sync ${sync}: a durable write resolves only after an fsync, one fsync for a turn's durable writes`, async (t) => {
    // An interval no test reaches: every fsync here is one a durable write asked for.
    const s = new LmdbStorage<unknown>(join(tempDir(t), 'data.db'), { sync, syncIntervalMs: 3_600_000 });
    t.teardown(() => s.close());
    const syncsAt = (p: Promise<void>) => p.then(() => s.syncs);
    const [plain, a, b, removed] = await Promise.all([syncsAt(s.put(1, 'plain', 0)), syncsAt(s.put(1, 'a', 1, { durable: true })), syncsAt(s.put(1, 'b', 2, { durable: true })), syncsAt(s.remove(1, 'gone', { durable: true }))]);
    t.deepEqual({ plain, a, b, removed }, { plain: 0, a: 1, b: 1, removed: 1 });
    t.is(s.syncs, 1);
  });

  test(`storage(lmdb) - sync ${sync}: a durable write whose fsync fails is rejected, though committed`, async (t) => {
    const errors: unknown[] = [];
    const s = new LmdbStorage<unknown>(join(tempDir(t), 'data.db'), { sync, syncIntervalMs: 3_600_000, onSyncError: (err) => errors.push(err) });
    t.teardown(() => s.close());
    s.failSyncs = 1;
    await t.throwsAsync(s.put(1, 'd', 4, { durable: true }), { message: /injected fsync fault/ });
    t.is(s.get(1, 'd'), 4, 'committed: a read sees it');
    t.is(errors.length, 1);
    await s.put(1, 'e', 5, { durable: true });
    t.is(s.syncs, 1, 'the next durable write gets its fsync');
  });
}

test('storage(lmdb) - sync periodic: nothing written, nothing fsynced', async (t) => {
  const s = new LmdbStorage<unknown>(join(tempDir(t), 'data.db'), { sync: 'periodic', syncIntervalMs: 1 });
  t.teardown(() => s.close());
  // A read-only stretch of many intervals: the timer fires, but with no commit to flush.
  const ticks = await new Promise<number>((resolve) => {
    let n = 0;
    const timer = setInterval(() => {
      t.is(s.get(1, 'absent'), undefined);
      if (++n === 20) {
        clearInterval(timer);
        resolve(n);
      }
    }, 2);
  });
  t.is(ticks, 20);
  t.is(s.syncs, 0);
});

test('storage(lmdb) - a sync mode or interval that does not exist is refused', (t) => {
  const dir = tempDir(t);
  t.throws(() => new LmdbStorage<unknown>(join(dir, 'x.db'), { sync: 'sometimes' as never }), { instanceOf: RangeError, message: /sync must be one of always, periodic, one/ });
  t.throws(() => new LmdbStorage<unknown>(join(dir, 'y.db'), { sync: 'periodic', syncIntervalMs: 0 }), { instanceOf: RangeError, message: /sync interval/ });
});

/** Reads "acked N" lines until N >= min, then SIGKILLs the child; resolves to the last N read. */
function killAfterAcks(child: ReturnType<typeof spawn>, min: number, deadlineMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let acked = 0;
    let pending = '';
    let stderr = '';
    const fail = (why: string) => {
      clearTimeout(deadline);
      child.kill('SIGKILL');
      reject(new Error(`${why} after ${acked} acks; stderr: ${stderr}`));
    };
    const deadline = setTimeout(() => fail(`no ${min} acks within ${deadlineMs} ms`), deadlineMs);
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => void (stderr += chunk));
    child.on('exit', (code, signal) => {
      if (acked < min) fail(`writer exited (code ${code}, signal ${signal})`);
    });
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      if (acked >= min) return;
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        const match = /^acked (\d+)$/.exec(line);
        if (match) acked = Number(match[1]);
      }
      if (acked >= min) {
        clearTimeout(deadline);
        child.kill('SIGKILL');
        resolve(acked);
      }
    });
  });
}

for (const sync of SYNC_MODES) test(`storage(lmdb) - the cache of decoded values never serves a stale or dropped value (sync ${sync})`, async (t) => {
  const path = join(tempDir(t), 'data.db');
  // Three cached values for twenty keys: most reads miss, evict, and come back from disk.
  const s = new LmdbStorage<unknown>(path, { cachedValuesMax: 3, sync });
  t.teardown(() => s.close());
  const model = new Map<string, unknown>();
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 20; i++) {
      const key = `k${(i * 7 + round) % 20}`;
      if ((i + round) % 6 === 5) {
        void s.remove(1, key);
        model.delete(key);
      } else {
        void s.put(1, key, { round, i });
        model.set(key, { round, i });
      }
      t.deepEqual(s.get(1, key), model.get(key), `staged ${key}`);
    }
    await s.flush();
    for (let i = 0; i < 20; i++) t.deepEqual(s.get(1, `k${i}`), model.get(`k${i}`), `round ${round} k${i}`);
    for (let i = 19; i >= 0; i--) t.deepEqual(s.get(1, `k${i}`), model.get(`k${i}`), `again, round ${round} k${i}`);
  }
  t.is(s.count(1), model.size);
});

for (const sync of SYNC_MODES) test(`storage(lmdb) - a write lmdb refuses leaves the cached value as it was (sync ${sync})`, async (t) => {
  const s = new LmdbStorage<unknown>(join(tempDir(t), 'data.db'), { sync });
  t.teardown(() => s.close());
  await s.put(1, 'k', 'kept');
  t.is(s.get(1, 'k'), 'kept');
  // A key past lmdb's key size limit is refused; a write staged in the same turn (periodic: the
  // same transaction) is not taken down with it.
  const neighbour = s.put(1, 'n', 'neighbour');
  await t.throwsAsync(async () => s.put(1, 'x'.repeat(4000), 'too long a key'));
  await neighbour;
  t.is(s.get(1, 'x'.repeat(4000)), undefined);
  t.is(s.get(1, 'k'), 'kept');
  t.deepEqual([...s.entries(1)], [['k', 'kept'], ['n', 'neighbour']]);
  // And the engine goes on (this also lets lmdb finish the commit it had queued before close).
  await s.put(1, 'k', 'next');
  t.is(s.get(1, 'k'), 'next');
});

test('storage(lmdb) - the cache of decoded values stays bounded, oldest out first, under churn and removes', async (t) => {
  const s = new LmdbStorage<unknown>(join(tempDir(t), 'data.db'), { cachedValuesMax: 100, sync: 'periodic' });
  t.teardown(() => s.close());
  // 5,000 distinct keys through a cache of 100: it holds the newest 100.
  for (let i = 0; i < 5_000; i++) void s.put(1, `k${i}`, i);
  await s.flush();
  t.deepEqual(s.cacheSizes, { values: 100, order: 100 });
  // Removes and writes again of a few keys, over and over: the eviction order does not grow.
  for (let round = 0; round < 2_000; round++) {
    const key = `hot${round % 10}`;
    await s.remove(1, key); // drops the key's cached value
    await s.put(1, key, -round); // and caches it again, as the newest
  }
  const { values, order } = s.cacheSizes;
  t.true(values <= 100, `values ${values}`);
  t.true(order <= 2 * values + 1024 + 1, `order ${order} for ${values} values`);
  for (let i = 0; i < 10; i++) t.is(s.get(1, `hot${i}`), -(1_990 + i));
  t.is(s.get(1, 'k0'), 0);
  t.is(s.get(1, 'k4999'), 4_999);
});
