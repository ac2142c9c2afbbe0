/**
 * The bench's like-for-like peer, `jetstream-r3`: three real nats-servers form one JetStream
 * cluster, the KV bucket gets three replicas on file storage, a few keys go in and come back
 * checked, and stopping leaves no server running.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { JetStreamClusterTarget } from '../bench/targets/jetstreamCluster.ts';

test('bench - jetstream-r3 starts a 3-server JetStream cluster, puts and gets keys with 3 replicas, and stops', async (t) => {
  t.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'dkv-bench-jsr3-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const started = Date.now();
  const target = await JetStreamClusterTarget.start({ keys: 10, valueBytes: 64, dataDir: dir, readyTimeoutMs: 40_000 });
  t.log(`ready in ${Date.now() - started} ms: ${target.description}`);
  let stopped = false;
  t.teardown(async () => {
    if (!stopped) await target.stop();
  });
  t.is(target.processes.length, 3);
  t.true(target.processes.every((p) => p.holdsData && p.pid > 0));
  t.regex(target.description, /3 replicas, file storage.*connected to js[123], stream leader js[123]/);

  // Before the preload a miss is fine; after it, a miss is an error.
  t.is(await target.read(0), undefined);
  for (let k = 0; k < 5; k++) t.is(await target.update(k, 1), undefined);
  target.markPreloaded(5);
  for (let k = 0; k < 5; k++) t.is(await target.read(k), undefined, `key ${k}`);
  t.is(await target.update(3, 2), undefined);
  t.is(await target.read(3), undefined);
  t.is(await target.read(7), undefined);
  t.deepEqual(target.health(), []);

  // The bucket's stream really has three replicas on file storage, asked through js3 on a connection of its own.
  const nc = await connect({ servers: target.urls[2]! });
  try {
    const info = await (await jetstreamManager(nc)).streams.info('KV_bench');
    t.is(info.config.num_replicas, 3);
    t.is(info.config.storage, 'file');
    t.is((info.cluster?.replicas ?? []).length, 2, JSON.stringify(info.cluster));
  } finally {
    await nc.close();
  }

  await target.stop();
  stopped = true;
  for (const p of target.processes) t.throws(() => process.kill(p.pid, 0), undefined, `pid ${p.pid} gone`);
});
