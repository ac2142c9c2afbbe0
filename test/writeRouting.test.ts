/**
 * Where the client library sends a write whose context names a coordinator (Dynamo §6.4), on a
 * real nats-server with stand-in nodes that answer the batch protocol: the first attempt goes
 * to the node named; a retry after that node answered `overloaded` goes where any write goes.
 */
import test from 'ava';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.ts';
import { DkvClient } from '../src/client/client.ts';
import { encodeContext } from '../src/context.ts';
import { subjectsFor } from '../src/subjects.ts';

const subjects = subjectsFor('local');
const encoder = new TextEncoder();
const decoder = new TextDecoder();

let nats: NatsServerHandle;
let nc: NatsConnection;

test.before(async () => {
  nats = await startNatsServer();
  nc = await connect({ servers: nats.url });
});

test.after.always(async () => {
  await nc?.close();
  await nats?.stop();
});

/** A stand-in node: answers every operation of a batch with `result`, and counts the operations. */
function standIn(subject: string, result: object, queue?: string): { ops: number } {
  const seen = { ops: 0 };
  nc.subscribe(subject, {
    ...(queue ? { queue } : {}),
    callback: (_err, msg) => {
      const ops: unknown[] = JSON.parse(decoder.decode(msg.data)).ops;
      seen.ops += ops.length;
      msg.respond(encoder.encode(JSON.stringify({ results: ops.map(() => result) })));
    },
  });
  return seen;
}

test('write routing - a write the named node refuses overloaded is retried through the queue group, not at that node', async (t) => {
  const named = standIn(subjects.nodeBatch('n1'), { error: { code: 'overloaded', message: 'stand-in at its bound' } });
  const group = standIn(subjects.batch, { ok: true, context: encodeContext([['a', 2]]) }, subjects.queue);
  await nc.flush();
  const client = DkvClient.over(nc, 'local', 5_000);
  const context = encodeContext([['a', 1]], 'n1');
  const replies = await Promise.all(Array.from({ length: 3 }, (_, i) => client.put(`k${i}`, 'v', { context })));
  t.true(replies.every((r) => r.ok === true));
  t.is(named.ops, 3, 'the first attempt of each went to the node named');
  t.is(group.ops, 3, 'each retry went to the queue group');
  t.is(client.overloadedRetries, 3);
});
