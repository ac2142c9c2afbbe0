/**
 * Issue #18 item 2: each node is a NATS micro service named `dkv`, found through the discovery
 * subjects the NATS tools use (`$SRV.PING|INFO|STATS.dkv`, ADR-32), with its endpoints and their
 * request counts. A real nats-server, three real node processes, a plain NATS connection.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { connect, createInbox, type NatsConnection } from '@nats-io/transport-node';
import { DkvClient } from '../src/client/client.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

const VERSION = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version;
const IDS = ['n1', 'n2', 'n3'];
const PUTS = 12;
const GETS = 9;

let cluster: TestCluster;
let nc: NatsConnection;
let client: DkvClient;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
  nc = await connect({ servers: cluster.nats.url });
  // One request per call on the get/put subjects, so that the counts can be checked exactly.
  client = await DkvClient.connect({ servers: cluster.nats.url, cluster: 'local', pipeline: false });
});

test.after.always(async () => {
  await client?.close().catch(() => {});
  await nc?.close().catch(() => {});
  await cluster?.stop();
});

/** Every reply to one request on `subject`, until `count` have come (no queue group: each node answers). */
async function gather(subject: string, count: number): Promise<any[]> {
  const replies: any[] = [];
  const inbox = createInbox();
  const sub = nc.subscribe(inbox, { callback: (err, msg) => void (!err && replies.push(msg.json())) });
  try {
    nc.publish(subject, new Uint8Array(0), { reply: inbox });
    await waitFor(`${count} replies on ${subject}`, () => replies.length >= count && replies, { timeoutMs: 5_000 });
    // The replies of the same instant: one more round trip lets a duplicate show itself.
    await nc.flush();
    return replies;
  } finally {
    sub.unsubscribe();
  }
}

const byId = (replies: any[]) => new Map<string, any>(replies.map((r) => [r.id, r]));

test.serial('micro - every node answers PING on $SRV.PING.dkv and $SRV.PING, one node on $SRV.PING.dkv.<id>', async (t) => {
  for (const subject of ['$SRV.PING.dkv', '$SRV.PING']) {
    const replies = (await gather(subject, 3)).filter((r) => r.name === 'dkv');
    t.deepEqual(replies.map((r) => r.id).sort(), IDS, subject);
    for (const r of replies) {
      t.is(r.type, 'io.nats.micro.v1.ping_response');
      t.is(r.version, VERSION);
      t.deepEqual(r.metadata, { node: r.id, cluster: 'local' });
    }
  }
  const one = await gather('$SRV.PING.dkv.n2', 1);
  t.deepEqual(one.map((r) => r.id), ['n2']);
});

test.serial('micro - INFO lists the public endpoints with the queue group of DESIGN.md §3', async (t) => {
  const infos = byId(await gather('$SRV.INFO.dkv', 3));
  t.deepEqual([...infos.keys()].sort(), IDS);
  for (const id of IDS) {
    const info = infos.get(id);
    t.is(info.type, 'io.nats.micro.v1.info_response');
    t.regex(info.description, new RegExp(`node ${id} of cluster local`));
    const endpoints = new Map<string, any>(info.endpoints.map((e: any) => [e.name, e]));
    t.deepEqual([...endpoints.keys()].sort(), ['admin-join', 'admin-leave', 'batch', 'delete', 'get', 'keys', 'node-batch', 'peek', 'put', 'ring', 'status']);
    t.like(endpoints.get('get'), { subject: 'dkv.local.get', queue_group: 'dkv-local' });
    t.like(endpoints.get('put'), { subject: 'dkv.local.put', queue_group: 'dkv-local' });
    t.like(endpoints.get('peek'), { subject: `dkv.local.node.${id}.peek`, queue_group: '' });
    t.like(endpoints.get('node-batch'), { subject: `dkv.local.node.${id}.batch`, queue_group: '' });
  }
});

test.serial('micro - STATS counts each node\'s requests: the totals are the requests sent, errors included', async (t) => {
  for (let i = 0; i < PUTS; i++) await client.put(`micro-${i}`, `v${i}`);
  for (let i = 0; i < GETS; i++) await client.get(`micro-${i}`);
  // A malformed put: an error reply, counted as an error of the put endpoint.
  const bad = (await nc.request('dkv.local.put', new TextEncoder().encode('{}'), { timeout: 5_000 })).json<any>();
  t.is(bad.error?.code, 'bad_request');
  // One peek per node: node-local, so every node has served at least one request.
  for (const id of IDS) await client.peek(id, 'micro-0');

  const stats = byId(await gather('$SRV.STATS.dkv', 3));
  t.deepEqual([...stats.keys()].sort(), IDS);
  const sum = (name: string, field: string) => IDS.reduce((s, id) => s + stats.get(id).endpoints.find((e: any) => e.name === name)[field], 0);
  t.is(sum('put', 'num_requests'), PUTS + 1);
  t.is(sum('get', 'num_requests'), GETS);
  t.is(sum('put', 'num_errors'), 1);
  t.is(sum('get', 'num_errors'), 0);
  for (const id of IDS) {
    const s = stats.get(id);
    t.is(s.type, 'io.nats.micro.v1.stats_response');
    t.is(s.version, VERSION);
    t.true(Date.parse(s.started) > 0 && Date.parse(s.started) <= Date.now(), s.started);
    const peek = s.endpoints.find((e: any) => e.name === 'peek');
    t.like(peek, { num_requests: 1, num_errors: 0, queue_group: '' });
    t.true(peek.processing_time > 0 && Number.isInteger(peek.processing_time), `${id} peek processing_time ${peek.processing_time}`);
    t.is(peek.average_processing_time, peek.processing_time);
    for (const e of s.endpoints) {
      if (e.num_requests === 0) t.is(e.processing_time, 0, `${id} ${e.name}`);
      else t.is(e.average_processing_time, Math.round(e.processing_time / e.num_requests), `${id} ${e.name}`);
    }
  }
  const erred = IDS.map((id) => stats.get(id).endpoints.find((e: any) => e.name === 'put')).find((e) => e.num_errors === 1);
  t.regex(erred.last_error, /^bad_request: /);
});
