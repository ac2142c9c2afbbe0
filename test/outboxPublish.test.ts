/**
 * The outbox sends a turn's publishes (the change feed) with its replies, in one flush: published
 * at once, each would cost a socket write of its own. On a real nats-server: a publish made
 * directly in the same turn arrives before them, and they arrive in order.
 */
import test, { type ExecutionContext } from 'ava';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../src/cli/natsServer.ts';
import { Outbox, OUTBOX_REPLIES_MAX } from '../actors/outbox.ts';

/** A nats-server of the test's own, a connection that sends through an outbox, one that watches. */
async function bus(t: ExecutionContext) {
  const nats = await startNatsServer();
  t.teardown(() => nats.stop());
  const sender = await connect({ servers: nats.url });
  const watcher = await connect({ servers: nats.url });
  t.teardown(() => Promise.all([sender.close(), watcher.close()]).then(() => undefined));
  return { sender, watcher };
}

test('outbox - publishes wait for the turn\'s flush, then all go out in order', async (t) => {
  const { sender, watcher } = await bus(t);
  const seen: string[] = [];
  watcher.subscribe('feed.>', { callback: (_err, msg) => void seen.push(`${msg.subject}=${new TextDecoder().decode(msg.data)}`) });
  await watcher.flush();
  const outbox = new Outbox(sender, '_test.publish');
  t.teardown(() => outbox.close());

  outbox.publish('feed.a', new TextEncoder().encode('1'));
  outbox.publish('feed.b', new TextEncoder().encode('2'));
  // Published directly in the same turn: it goes out first, since the outbox's wait for the flush.
  const before = sender.stats().outMsgs;
  sender.publish('feed.direct', new TextEncoder().encode('0'));
  t.is(sender.stats().outMsgs - before, 1, 'only the direct publish was handed to NATS in this turn');
  const deadline = Date.now() + 5_000;
  while (seen.length < 3 && Date.now() < deadline) {
    await sender.flush();
    await watcher.flush();
  }
  t.deepEqual(seen, ['feed.direct=0', 'feed.a=1', 'feed.b=2']);
});

test('outbox - a turn past the bound on held messages sends them at once', async (t) => {
  const { sender, watcher } = await bus(t);
  let count = 0;
  watcher.subscribe('feed.x', { callback: () => void count++ });
  await watcher.flush();
  const outbox = new Outbox(sender, '_test.bound');
  t.teardown(() => outbox.close());
  const before = sender.stats().outMsgs;
  for (let i = 0; i < OUTBOX_REPLIES_MAX - 1; i++) outbox.publish('feed.x', new Uint8Array(1));
  t.is(sender.stats().outMsgs - before, 0, 'below the bound, they wait for the flush');
  outbox.publish('feed.x', new Uint8Array(1));
  // In the same turn, without a flush: the bound alone sent them.
  t.is(sender.stats().outMsgs - before, OUTBOX_REPLIES_MAX);
  await sender.flush();
  const deadline = Date.now() + 5_000;
  while (count < OUTBOX_REPLIES_MAX && Date.now() < deadline) await watcher.flush();
  t.is(count, OUTBOX_REPLIES_MAX);
});
