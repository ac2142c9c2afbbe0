/**
 * The benchmark on an authenticated bus (`npm run bench -- --nats-user U --nats-pass P`): the dkv
 * target's nats-server requires the user of everyone, and its nodes and load generator present it.
 */
import test from 'ava';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkvTarget } from '../bench/targets/dkv.ts';

test('bench - a dkv target with --nats-user: the server refuses anyone without it, the nodes and the generator present it', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'dkv-bench-auth-'));
  const target = await DkvTarget.start({ via: 'protocol', nodes: 3, n: 3, r: 2, w: 2, storage: 'memory', sync: 'periodic', dataDir, keys: 10, valueBytes: 50, natsAuth: { user: 'bench', pass: 's3cret' } });
  t.teardown(async () => {
    await target.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });
  for (let k = 0; k < 10; k++) t.is(await target.update(k, 1), undefined, `update of key ${k}`);
  target.markPreloaded(10);
  for (let k = 0; k < 10; k++) t.is(await target.read(k), undefined, `read of key ${k}`);
  const url = `nats://${target.nc.getServer()}`;
  await t.throwsAsync(() => connect({ servers: url, maxReconnectAttempts: 0 }), { message: /Authorization Violation/ });
  t.deepEqual(target.health(), []);
});
