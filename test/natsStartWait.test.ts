import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DkvClient } from '../src/client/client.ts';
import { freePort, startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.ts';
import { NodeProcess } from './harness/nodeProcess.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

test('nats start - nodes started while their nats-server is down wait for it with backoff, then serve', async (t) => {
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const dir = mkdtempSync(join(tmpdir(), 'dkv-nats-wait-'));
  const members = ['n1', 'n2', 'n3'];
  const nodes = members.map((id) => new NodeProcess({ id, natsUrl: url, members, dataDir: join(dir, id) }));
  let nats: NatsServerHandle | undefined;
  t.teardown(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await nats?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const started = Promise.all(nodes.map((n) => n.start()));
  started.catch(() => {});
  // Each node says it is waiting, more than once, with a growing wait.
  await waitFor('every node to retry twice', () => nodes.every((n) => n.logs.filter((l) => l.event === 'nats-connect-retry').length >= 2), { timeoutMs: 20_000 });
  for (const n of nodes) {
    t.true(n.running, `${n.id} still running while NATS is down`);
    const retries = n.logs.filter((l) => l.event === 'nats-connect-retry');
    t.is(retries[0].attempt, 1);
    t.true(retries[1].retryInMs > retries[0].retryInMs);
  }

  nats = await startNatsServer({ port });
  reapOnExit(nats.process);
  await started;
  const client = await DkvClient.connect({ servers: url });
  t.teardown(() => client.close());
  await client.put('after-the-wait', 'served', { w: 3 });
  t.deepEqual((await client.get('after-the-wait', { r: 3 })).values, ['served']);
  for (const n of nodes) t.true(n.logs.some((l) => l.event === 'nats-connected'), `${n.id} logged its connection`);
});
