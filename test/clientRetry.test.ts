/**
 * The client library's retries while NATS is away: a call on a closed connection fails at once
 * as `unavailable` instead of retrying requests that fail in microseconds until its deadline
 * (a `dkv dashboard` left polling a stopped cluster used half a core that way).
 */
import test from 'ava';
import { DkvClient } from '../src/client/client.ts';
import { startNatsServer } from '../src/cli/natsServer.ts';

test('client - a call on a closed connection fails at once as unavailable, after one attempt', async (t) => {
  const server = await startNatsServer();
  t.teardown(() => server.stop());
  const client = await DkvClient.connect({ servers: server.url, timeoutMs: 2_000 });
  let attempts = 0;
  const request = client.nc.request.bind(client.nc);
  (client.nc as any).request = (...args: Parameters<typeof request>) => (attempts++, request(...args));
  await client.nc.close();
  const err = await t.throwsAsync(client.raw('dkv.local.status', {}));
  t.is((err as any).code, 'unavailable');
  t.regex(err!.message, /NATS connection is closed/);
  t.is(attempts, 1);
});
