/**
 * Node-to-node subjects take junk too: a malformed membership, transfer, anti-entropy or replica
 * message is answered with an error, changes nothing and kills no node.
 */
import test from 'ava';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { coordinateWrite } from '../src/replica.ts';
import { subjectsFor } from '../src/subjects.ts';
import { TestCluster } from './harness/cluster.ts';

let cluster: TestCluster;
let nc: NatsConnection;
const subjects = subjectsFor('local');

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
  nc = await connect({ servers: cluster.nats.url, noAsyncTraces: true });
  await cluster.client.put('kept', 'kept value', { w: 3 });
});

test.after.always(async () => {
  await nc?.close();
  await cluster?.stop();
});

const NOT_MSGPACK = Uint8Array.from([0xc1, 0xc1, 0xc1]);

const cases: Array<[string, string, Uint8Array]> = [
  ['membership: not msgpack', subjects.membership('n1'), NOT_MSGPACK],
  ['membership: unknown type', subjects.membership('n1'), encodeInternal({ type: 'nope' })],
  ['membership: a view of junk', subjects.membership('n1'), encodeInternal({ type: 'gossip', view: { members: 'all of them' } })],
  ['membership: a join with a bad name', subjects.membership('n1'), encodeInternal({ type: 'join', node: 'a.b' })],
  ['transfer: not msgpack', subjects.transfer('n2'), NOT_MSGPACK],
  ['transfer: partition out of range', subjects.transfer('n2'), encodeInternal({ type: 'page', p: 999, limit: 5, rv: 0 })],
  ['transfer: no limit', subjects.transfer('n2'), encodeInternal({ type: 'page', p: 0, limit: Number.NaN, rv: 0 })],
  ['transfer: unknown type', subjects.transfer('n2'), encodeInternal({ type: 'steal', p: 0 })],
  ['anti-entropy: not msgpack', subjects.antiEntropy('n3'), NOT_MSGPACK],
  ['anti-entropy: level out of range', subjects.antiEntropy('n3'), encodeInternal({ type: 'hashes', p: 0, level: 9, idx: [0] })],
  ['anti-entropy: index out of range', subjects.antiEntropy('n3'), encodeInternal({ type: 'hashes', p: 0, level: 1, idx: [99] })],
  ['anti-entropy: buckets not a list', subjects.antiEntropy('n3'), encodeInternal({ type: 'keys', p: 0, buckets: 'x' })],
  ['anti-entropy: unknown type', subjects.antiEntropy('n3'), encodeInternal({ type: 'weird', p: 0 })],
  ['replica: not msgpack', subjects.replica('n1'), NOT_MSGPACK],
  ['replica: ops not a list', subjects.replica('n1'), encodeInternal({ ops: 'x' })],
];

for (const [name, subject, data] of cases) {
  test.serial(`internal input - ${name} is answered with an error`, async (t) => {
    const reply = decodeInternal<any>((await nc.request(subject, data, { timeout: 2000 })).data);
    t.truthy(reply?.error, JSON.stringify(reply));
  });
}

test.serial('internal input - a replica write with a malformed clock is refused, the stored value stays', async (t) => {
  const reply = decodeInternal<any>((await nc.request(subjects.replica('n1'), encodeInternal({ ops: [{ op: 'replicate', p: 0, k: 'kept', c: { e: 'bad' } }] }), { timeout: 2000 })).data);
  t.false(reply.results[0].ok);
});

test.serial('internal input - a replica write whose durable mark is not true is refused, the stored value stays', async (t) => {
  // A valid clock that would add a sibling to 'kept': only the mark is wrong.
  const clock = coordinateWrite(undefined, undefined, new TextEncoder().encode('intruder'), 'n9', 1);
  const ops = [{ op: 'replicate', p: 0, k: 'kept', c: clock, dur: 'yes' }, { op: 'replicate', p: 0, k: 'kept', c: clock, dur: 1 }];
  const reply = decodeInternal<any>((await nc.request(subjects.replica('n1'), encodeInternal({ ops }), { timeout: 2000 })).data);
  t.deepEqual(reply.results.map((r: any) => [r.ok, /"dur" is true or absent/.test(r.error)]), [[false, true], [false, true]]);
});

test.serial('internal input - afterwards every node is up, the ring unchanged, the data intact', async (t) => {
  const s = await cluster.client.status();
  t.deepEqual(s.members.map((m: any) => [m.node, m.state, m.status]), [['n1', 'up', 'valid'], ['n2', 'up', 'valid'], ['n3', 'up', 'valid']]);
  t.is(s.ring.version, 0);
  t.deepEqual((await cluster.client.get('kept', { r: 3 })).values, ['kept value']);
  for (const n of cluster.nodes) t.true(n.running, n.id);
});

test('internal input - a join request for a node that does not answer is refused and the ring stays as it is', async (t) => {
  const before = (await cluster.client.status()).ring;
  const reply = decodeInternal<any>((await nc.request(subjects.membership('n1'), encodeInternal({ type: 'join', node: 'ghost' }), { timeout: 5_000 })).data);
  t.is(reply.error?.code, 'bad_request');
  t.regex(reply.error.message, /node ghost does not answer/);
  const after = (await cluster.client.status()).ring;
  t.deepEqual(after.owners, before.owners);
  t.deepEqual(after.nodes, before.nodes);
});
