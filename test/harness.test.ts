/**
 * The fault harness itself, with real nats-servers and real clients: the later partition and
 * restart scenarios are only as trustworthy as these checks.
 *
 * Observed with nats-server 2.9.10 (numbers from local runs, asserted with generous bounds):
 * - partition(): both servers see the route close at once and drop the other side's interest, so
 *   a request across gets "no responders" within a few ms (never a timeout once the route is
 *   down). Only a request already on its way into the dying route is lost and times out.
 * - While cut, A re-dials its route through the proxy about once a second and is refused; no
 *   route to B appears by any other path.
 * - heal(): the route is back at A's next re-dial, i.e. within about 1 s (seen 0.3 to 1.1 s).
 *   After a restart of B likewise (about 1 s); after a restart of A about 0.3 s, since A dials
 *   its route as soon as it starts.
 */
import test, { type ExecutionContext } from 'ava';
import net from 'node:net';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.ts';
import { NatsPair, type Crossing, type Side } from './harness/natsCluster.ts';
import { restartNatsServer } from './harness/natsRestart.ts';
import { TcpProxy } from './harness/proxy.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

/** Route re-dial interval of nats-server (DEFAULT_ROUTE_RECONNECT), plus slack for a busy host. */
const ROUTE_BACK_MS_MAX = 3_000;
const NO_RESPONDERS_MS_MAX = 1_000;

async function client(url: string): Promise<NatsConnection> {
  // waitOnFirstConnect: a first dial that fails (a reset under load) is retried like a reconnect.
  return connect({ servers: url, ignoreClusterUpdates: true, maxReconnectAttempts: -1, reconnectTimeWait: 50, waitOnFirstConnect: true });
}

/** A routed two-server pair with one client on each side, stopped when the test ends. */
async function routedPair(t: ExecutionContext): Promise<{ pair: NatsPair; a: NatsConnection; b: NatsConnection }> {
  const pair = await NatsPair.start();
  const [a, b] = [await client(pair.urlA), await client(pair.urlB)];
  t.teardown(async () => {
    await Promise.all([a.close(), b.close()]);
    await pair.stop();
  });
  await pair.waitRouted();
  return { pair, a, b };
}

function collectInto(got: string[]): (err: Error | null, msg: Msg) => void {
  return (_err, msg) => {
    got.push(msg.string());
  };
}

/** Subscribes on one client and publishes on another until a message arrives (or the deadline). */
async function crosses(from: NatsConnection, to: NatsConnection, subject: string, timeoutMs = 5_000): Promise<string[]> {
  const got: string[] = [];
  const sub = to.subscribe(subject, { callback: collectInto(got) });
  await to.flush();
  try {
    let n = 0;
    return await waitFor(
      `a message on ${subject} to cross`,
      async () => {
        from.publish(subject, `m${n++}`);
        await from.flush();
        return got.length > 0 ? got : undefined;
      },
      { timeoutMs, intervalMs: 25 },
    );
  } finally {
    sub.unsubscribe();
  }
}

test('nats pair - messages cross A and B when routed, and the only route runs through the proxy', async (t) => {
  const { pair, a, b } = await routedPair(t);

  t.regex((await crosses(a, b, 'harness.a-to-b'))[0]!, /^m\d+$/);
  t.regex((await crosses(b, a, 'harness.b-to-a'))[0]!, /^m\d+$/);
  t.deepEqual(
    (await pair.routes('A')).map((r) => ({ port: r.port, didSolicit: r.didSolicit })),
    [{ port: pair.proxy.port, didSolicit: true }],
  );
  t.deepEqual((await pair.routes('B')).map((r) => r.didSolicit), [false]);
  t.is(pair.proxy.counters.accepted, 1);
  t.is(pair.proxy.live, 1);
});

test('nats pair - partition: requests across get "no responders" at once, and no route appears while cut', async (t) => {
  const { pair, a, b } = await routedPair(t);

  const cutAt = Date.now();
  pair.partition();
  const seen = await waitFor(
    'both sides to report no responders',
    async () => {
      const s: Record<Side, Crossing> = { A: await pair.probe('A', 100), B: await pair.probe('B', 100) };
      return s.A === 'no-responders' && s.B === 'no-responders' ? s : undefined;
    },
    { timeoutMs: 5_000, intervalMs: 5 },
  );
  const noRespondersMs = Date.now() - cutAt;
  t.log(`"no responders" on both sides ${noRespondersMs} ms after the cut`);
  t.true(noRespondersMs < NO_RESPONDERS_MS_MAX, `${noRespondersMs} ms`);
  t.deepEqual(seen, { A: 'no-responders', B: 'no-responders' });
  t.is(pair.proxy.counters.cut, 1);

  // Hold the partition across two of A's route re-dials: each is refused by the proxy, and no
  // route to B turns up by another path (gossip of B's cluster URL) in the meantime.
  const got: string[] = [];
  const sub = b.subscribe('harness.during-partition', { callback: collectInto(got) });
  await b.flush();
  const refusedBefore = pair.proxy.counters.refused;
  const outcomes = new Set<Crossing>();
  await waitFor(
    'A to re-dial its route twice',
    async () => {
      a.publish('harness.during-partition', 'lost');
      // "no responders" comes back at once; the long timeout only keeps a loaded CI machine from
      // turning a slow answer into a 'timeout' outcome.
      outcomes.add(await pair.probe('A', 2_000));
      outcomes.add(await pair.probe('B', 2_000));
      return pair.proxy.counters.refused >= refusedBefore + 2;
    },
    { timeoutMs: 10_000, intervalMs: 25 },
  );
  await a.flush();
  await b.flush();
  sub.unsubscribe();
  t.deepEqual([...outcomes], ['no-responders']);
  t.deepEqual(got, []);
  t.deepEqual(await pair.routes('A'), []);
  t.deepEqual(await pair.routes('B'), []);

  await pair.waitPartitioned();
  t.deepEqual({ A: await pair.probe('A', 2_000), B: await pair.probe('B', 2_000) }, { A: 'no-responders', B: 'no-responders' });
});

test('nats pair - heal: messages cross again within one route re-dial', async (t) => {
  const { pair, a, b } = await routedPair(t);
  pair.partition();
  await pair.waitPartitioned();

  const healedAt = Date.now();
  pair.heal();
  await pair.waitRouted(ROUTE_BACK_MS_MAX);
  const routeBackMs = Date.now() - healedAt;
  t.log(`route back ${routeBackMs} ms after heal`);
  t.true(routeBackMs < ROUTE_BACK_MS_MAX, `${routeBackMs} ms`);
  t.is((await crosses(a, b, 'harness.after-heal', 1_000)).length > 0, true);
  t.is((await crosses(b, a, 'harness.after-heal-back', 1_000)).length > 0, true);
  t.is(pair.proxy.counters.accepted, 2);
});

test('nats pair - restart of either server: the route comes back on the same ports and clients reconnect', async (t) => {
  const { pair, a, b } = await routedPair(t);

  for (const side of ['B', 'A'] as const) {
    const url = pair.url(side);
    const restartedAt = Date.now();
    const handle = await pair.restart(side);
    t.is(handle.url, url);
    await pair.waitRouted(ROUTE_BACK_MS_MAX + 2_000);
    t.log(`route back ${Date.now() - restartedAt} ms after restart of ${side}`);
    t.true((await crosses(a, b, `harness.after-restart-${side}`)).length > 0);
    t.true((await crosses(b, a, `harness.after-restart-${side}-back`)).length > 0);
  }
});

test('tcp proxy - cut destroys every live connection at once and refuses new ones until heal', async (t) => {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  const echoPort = (echo.address() as net.AddressInfo).port;
  const proxy = await TcpProxy.start(echoPort);
  t.teardown(async () => {
    await proxy.close();
    await new Promise<void>((resolve) => echo.close(() => resolve()));
  });

  const open = async () => {
    const s = net.connect({ port: proxy.port, host: '127.0.0.1' });
    const closed = new Promise<void>((resolve) => s.once('close', () => resolve()));
    s.on('error', () => {});
    await new Promise<void>((resolve, reject) => s.once('connect', resolve).once('error', reject));
    return { s, closed };
  };
  const roundTrip = (s: net.Socket, text: string) =>
    new Promise<string>((resolve) => {
      s.once('data', (d) => resolve(d.toString()));
      s.write(text);
    });

  const [c1, c2] = [await open(), await open()];
  t.is(await roundTrip(c1.s, 'one'), 'one');
  t.is(await roundTrip(c2.s, 'two'), 'two');
  t.is(proxy.live, 2);

  proxy.cut();
  await Promise.all([c1.closed, c2.closed]);
  t.is(proxy.live, 0);
  t.is(proxy.counters.cut, 2);

  // The listener stays up while cut (its port is not handed to anyone else), but says nothing.
  const refused = await open();
  await refused.closed;
  t.is(proxy.counters.refused, 1);
  t.is(proxy.counters.accepted, 2);

  proxy.heal();
  const c3 = await open();
  t.is(await roundTrip(c3.s, 'three'), 'three');
  t.is(proxy.counters.accepted, 3);
  c3.s.destroy();
  await c3.closed;
  await waitFor('the proxy to drop the closed pair', () => proxy.live === 0, { timeoutMs: 2_000, intervalMs: 10 });
});

test('nats restart - a client of a restarted server reconnects and its subscription works again', async (t) => {
  let server: NatsServerHandle = await startNatsServer();
  reapOnExit(server.process);
  const sub = await client(server.url);
  t.teardown(async () => {
    await sub.close();
    await server.stop();
  });
  const got: string[] = [];
  sub.subscribe('harness.restart', { callback: collectInto(got) });
  let reconnects = 0;
  void (async () => {
    for await (const s of sub.status()) if (s.type === 'reconnect') reconnects++;
  })();

  const port = server.port;
  server = await restartNatsServer(server);
  t.is(server.port, port);
  await waitFor('the client to reconnect', () => reconnects > 0, { timeoutMs: 5_000, intervalMs: 10 });

  // A fresh publisher on the new server: the subscription was re-sent on reconnect.
  const pub = await client(server.url);
  t.teardown(() => pub.close());
  await sub.flush();
  await waitFor(
    'a message to reach the resubscribed client',
    async () => {
      pub.publish('harness.restart', 'after');
      await pub.flush();
      return got.length > 0;
    },
    { timeoutMs: 5_000, intervalMs: 25 },
  );
  t.is(got[0], 'after');
});
