/**
 * The replication floor's change feed (`--floor-features feed`): a floor held against dkv's
 * protocol must publish what the protocol promises, an event per acknowledged write on the key's
 * partition. Real floor nodes on a nats-server of their own, driven by the benchmark's own target.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLOOR_BIN } from '../bench/floor/features.ts';
import { DkvTarget } from '../bench/targets/dkv.ts';
import { isValueOf, keyName } from '../bench/workload.ts';
import type { ChangeEvent } from '../src/changeFeed.ts';
import { subjectsFor } from '../src/subjects.ts';
import { waitFor } from './harness/wait.ts';

const VALUE_BYTES = 100;
const KEYS = 20;

test('bench - the floor with the feed publishes an event for every acknowledged write, on its partition', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-floor-feed-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const target = await DkvTarget.start({ name: 'replication-floor-protocol', bin: FLOOR_BIN, settle: false, via: 'protocol', nodes: 3, n: 3, r: 2, w: 2, storage: 'lmdb', sync: 'periodic', dataDir: dir, env: { FLOOR_FEATURES: 'dvv,feed' }, keys: KEYS, valueBytes: VALUE_BYTES });
  t.teardown(() => target.stop());
  const subjects = subjectsFor('local');
  const seen: Array<{ subject: string; event: ChangeEvent }> = [];
  target.nc.subscribe(subjects.changesAll, { callback: (err, msg) => { if (!err) seen.push({ subject: msg.subject, event: JSON.parse(new TextDecoder().decode(msg.data)) }); } });
  await target.nc.flush();

  for (let i = 0; i < KEYS; i++) t.is(await target.update(i, 1), undefined, `put ${keyName(i)}`);
  const missing = () => Array.from({ length: KEYS }, (_, i) => keyName(i)).filter((k) => !seen.some((s) => s.event.key === k && s.event.values.some((v) => isValueOf(k, v as string, VALUE_BYTES))));
  await waitFor('an event for every acknowledged put', () => missing().length === 0, { timeoutMs: 10_000, intervalMs: 20 }).catch(() => t.fail(`no event for ${missing().join(', ')}`));
  for (const s of seen) {
    t.regex(s.subject, /^dkv\.local\.changes\.\d+$/);
    t.false(s.event.deleted, s.event.key);
    t.is(typeof s.event.context, 'string');
  }
  // Reads return what was written, and a write publishes one event, not more.
  for (let i = 0; i < KEYS; i++) t.is(await target.read(i), undefined, `get ${keyName(i)}`);
  t.is(seen.length, KEYS);
});
