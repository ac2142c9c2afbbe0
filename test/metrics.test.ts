import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import pino from 'pino';
import { startNode } from '../actors/node.ts';
import { freePort, startNatsServer } from '../src/cli/natsServer.ts';
import { DkvClient } from '../src/client/client.ts';
import { settingsFrom } from '../src/config.ts';
import { subjectsFor } from '../src/subjects.ts';
import { TestCluster } from './harness/cluster.ts';
import { has, parsePrometheus, total, type Sample } from './harness/prometheus.ts';
import { reapOnExit } from './harness/reaper.ts';
import { waitFor } from './harness/wait.ts';

const ids = ['n1', 'n2', 'n3'];
const ports = new Map<string, number>();
let cluster: TestCluster;
let nc: NatsConnection;
const subjects = subjectsFor('local');
const decoder = new TextDecoder();

async function scrapeHttp(id: string): Promise<Sample[]> {
  const res = await fetch(`http://127.0.0.1:${ports.get(id)}/metrics`);
  if (res.status !== 200) throw new Error(`${id} /metrics answered ${res.status}`);
  return parsePrometheus(await res.text());
}

async function scrapeNats(id: string, body = ''): Promise<Sample[]> {
  const reply = await nc.request(subjects.metrics(id), body, { timeout: 2000 });
  return parsePrometheus(decoder.decode(reply.data));
}

/** One metric summed over the nodes given, each scraped over HTTP. */
async function summed(name: string, labels: Record<string, string> = {}, nodes = ids): Promise<number> {
  const all = await Promise.all(nodes.map(scrapeHttp));
  return all.reduce((sum, s) => sum + total(s, name, labels), 0);
}

test.before(async () => {
  for (const id of ids) ports.set(id, await freePort());
  cluster = await TestCluster.start({ nodes: 3, faults: true, nodeArgs: (id) => ['--metrics-port', String(ports.get(id))] });
  nc = await connect({ servers: cluster.nats.url });
});

test.after.always(async () => {
  await nc?.close();
  await cluster?.stop();
});

test.serial('metrics - a known workload moves the request counters and histograms by exactly its size, over HTTP and NATS', async (t) => {
  const before = await Promise.all(ids.map(scrapeHttp));
  const sumBefore = (name: string, labels: Record<string, string> = {}) => before.reduce((sum, s) => sum + total(s, name, labels), 0);
  const batchesBefore = await cluster.requestsTotal('batches');

  // 100 puts (98 keys, and one key twice without a context: two siblings) and 50 gets, ten at a time.
  const keys = Array.from({ length: 98 }, (_, i) => `m-${i}`);
  for (let i = 0; i < keys.length; i += 10) await Promise.all(keys.slice(i, i + 10).map((k) => cluster.client.put(k, 'v')));
  await cluster.client.put('m-sib', 'a');
  await cluster.client.put('m-sib', 'b');
  const reads = [...keys.slice(0, 49), 'm-sib'];
  for (let i = 0; i < reads.length; i += 10) {
    const got = await Promise.all(reads.slice(i, i + 10).map((k) => cluster.client.get(k)));
    for (const g of got) t.true(g.found);
  }

  const delta = async (name: string, labels: Record<string, string> = {}) => (await summed(name, labels)) - sumBefore(name, labels);
  t.is(await delta('dkv_requests_total', { op: 'put', outcome: 'ok' }), 100);
  t.is(await delta('dkv_requests_total', { op: 'put' }), 100);
  t.is(await delta('dkv_requests_total', { op: 'get', outcome: 'ok' }), 50);
  t.is(await delta('dkv_requests_total', { op: 'delete' }), 0);
  t.is(await delta('dkv_request_duration_seconds_count', { op: 'put' }), 100);
  t.is(await delta('dkv_request_duration_seconds_bucket', { op: 'put', le: '+Inf' }), 100);
  t.is(await delta('dkv_request_duration_seconds_count', { op: 'get' }), 50);
  t.true((await delta('dkv_request_duration_seconds_sum', { op: 'put' })) > 0);
  // The client pipelines: every request travelled in a batch, each batch counted once.
  const batches = (await cluster.requestsTotal('batches')) - batchesBefore;
  t.true(batches > 0 && batches <= 150, `${batches} batches`);
  t.is(await delta('dkv_requests_total', { op: 'batch', outcome: 'ok' }), batches);
  t.is(await delta('dkv_request_duration_seconds_count', { op: 'batch' }), batches);
  // Every read coordinated once; 49 single values and one pair of siblings.
  t.is(await delta('dkv_read_siblings_count'), 50);
  t.is(await delta('dkv_read_siblings_sum'), 51);
  t.is(await delta('dkv_read_siblings_bucket', { le: '1' }), 49);
  t.is(await delta('dkv_quorum_failures_total'), 0);
  // Every key on its three replicas once the third, after the quorum, has written it too.
  await waitFor('99 keys on 3 replicas each', async () => (await delta('dkv_storage_entries')) === 99 * 3, { timeoutMs: 10_000, intervalMs: 200 });
  t.true((await summed('dkv_storage_bytes')) > 0);

  // A bad request is counted under its op with its code; a batch coordinated by n1 whose
  // coordinator crashes is an internal put, and a supervision decision about a coordinator.
  const bad = await cluster.client.raw(subjects.put, { value: 'no key' });
  t.is(bad.error.code, 'bad_request');
  t.is(await delta('dkv_requests_total', { op: 'put', outcome: 'bad_request' }), 1);
  const n1Before = await scrapeHttp('n1');
  t.true((await cluster.client.raw('dkv.local.internal.n1.fault', { coordinatorCrashes: 1 })).ok);
  const crashed = await cluster.client.raw(subjects.nodeBatch('n1'), { ops: [{ op: 'put', key: 'm-crash', value: 'v' }] });
  t.is(crashed.results[0].error.code, 'internal');
  const n1After = await scrapeHttp('n1');
  const n1Delta = (name: string, labels: Record<string, string>) => total(n1After, name, labels) - total(n1Before, name, labels);
  t.is(n1Delta('dkv_supervision_decisions_total', { kind: 'coordinator', decision: 'stop' }), 1);
  t.is(n1Delta('dkv_requests_total', { op: 'put', outcome: 'internal' }), 1);
  t.is(n1Delta('dkv_requests_total', { op: 'batch', outcome: 'ok' }), 1);

  // The same text on the bus, whatever the request's body; the node stays up after junk.
  for (const id of ids) {
    const http = await scrapeHttp(id);
    const bus = await scrapeNats(id, '\u0000not json{');
    t.is(total(bus, 'dkv_requests_total', { op: 'put', outcome: 'ok' }), total(http, 'dkv_requests_total', { op: 'put', outcome: 'ok' }));
    t.true(has(bus, 'dkv_hints') && has(bus, 'dkv_event_loop_lag_seconds') && has(bus, 'dkv_admission_rejections_total'));
  }
  nc.publish(subjects.metrics('n1'), 'no reply wanted');
  t.true(has(await scrapeNats('n1', '{}'), 'dkv_requests_total'));
  const other = await fetch(`http://127.0.0.1:${ports.get('n1')}/other`);
  t.is(other.status, 404);
  t.true(cluster.nodes.every((n) => n.running));
});

test.serial('metrics - a key listing counts once where it was coordinated, and its scans and entries where they ran', async (t) => {
  const listingsBefore = await summed('dkv_key_listings_total');
  const scansBefore = await summed('dkv_key_scans_total');
  const entriesBefore = await summed('dkv_key_scan_entries_total');
  const keys = Array.from({ length: 20 }, (_, i) => `listed-${i}`);
  await Promise.all(keys.map((k) => cluster.client.put(k, 'v')));
  const page = await cluster.client.keys({ prefix: 'listed-', limit: 100 });
  t.deepEqual([...page.keys].sort(), [...keys].sort());
  t.is((await summed('dkv_key_listings_total')) - listingsBefore, 1, 'one page, coordinated by one node');
  t.true((await summed('dkv_key_scans_total')) - scansBefore >= 1);
  // Every listed key was read by a scan at least once (a replica of each partition was scanned).
  t.true((await summed('dkv_key_scan_entries_total')) - entriesBefore >= keys.length);
  t.is(await summed('dkv_key_listings_unavailable_total'), 0);
  t.is(await summed('dkv_key_scans_refused_total'), 0);
});

test.serial('metrics - a killed peer shows as a down transition on a survivor, and the writes meanwhile as hints', async (t) => {
  const survivors = ['n1', 'n2'];
  const downBefore = await summed('dkv_peer_transitions_total', { to: 'down' }, survivors);
  t.is(await summed('dkv_hints', {}, survivors), 0);
  await cluster.node('n3').kill('SIGKILL');
  const client = await DkvClient.connect({ servers: cluster.nats.url, attemptTimeoutMs: 1_000, timeoutMs: 20_000 });
  t.teardown(() => client.close());
  for (let i = 0; i < 30; i++) t.true((await client.put(`down-${i}`, 'v', { w: 2 })).ok);
  await waitFor('a survivor to see n3 go down', async () => (await summed('dkv_peer_transitions_total', { to: 'down' }, survivors)) > downBefore, { timeoutMs: 10_000, intervalMs: 200 });
  const hints = await summed('dkv_hints', {}, survivors);
  t.true(hints > 0, `${hints} hints`);
  t.true((await summed('dkv_hint_bytes', {}, survivors)) > 0);
  // What status says and what the metrics say are the same figures.
  const status = await cluster.client.status();
  const backlog = status.members.filter((m: any) => survivors.includes(m.node)).reduce((sum: number, m: any) => sum + (m.backlog?.hints ?? 0), 0);
  t.is(await summed('dkv_hints', {}, survivors), backlog);
});

test.serial('metrics - nodes in one process keep registries of their own, and a stopped node closes its port', async (t) => {
  const nats = await startNatsServer();
  reapOnExit(nats.process);
  const dir = mkdtempSync(join(tmpdir(), 'dkv-metrics-'));
  t.teardown(async () => {
    await nats.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const settings = settingsFrom({ cluster: 'solo', n: 1, r: 1, w: 1 }, {});
  const start = async (id: string, port: number) =>
    startNode({ id, natsUrl: nats.url, settings, start: { kind: 'members', members: [id] }, storage: 'memory', dataDir: join(dir, id), logger: pino({ level: 'silent' }), onFatal: () => {}, metricsPort: port });
  const portA = await freePort();
  const portB = await freePort();
  const a = await start('a1', portA);
  // A second cluster of one on the same bus, in the same process.
  const b = await startNode({ id: 'b1', natsUrl: nats.url, settings: { ...settings, cluster: 'solo2' }, start: { kind: 'members', members: ['b1'] }, storage: 'memory', dataDir: join(dir, 'b1'), logger: pino({ level: 'silent' }), onFatal: () => {}, metricsPort: portB });
  const client = await DkvClient.connect({ servers: nats.url, cluster: 'solo' });
  for (let i = 0; i < 5; i++) await client.put(`k${i}`, 'v');
  await client.close();
  const scrape = async (port: number) => parsePrometheus(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  t.is(total(await scrape(portA), 'dkv_requests_total', { op: 'put', outcome: 'ok' }), 5);
  t.is(total(await scrape(portB), 'dkv_requests_total', { op: 'put', outcome: 'ok' }), 0);
  t.is(total(await scrape(portA), 'dkv_storage_entries'), 5);
  t.false(has(await scrape(portA), 'dkv_storage_bytes'), 'the memory engine cannot tell its bytes');
  await a.stop();
  await t.throwsAsync(fetch(`http://127.0.0.1:${portA}/metrics`));
  // The port is free again: a node started on it serves.
  const again = await start('a2', portA);
  t.is(total(await scrape(portA), 'dkv_requests_total', { op: 'put', outcome: 'ok' }), 0);
  await again.stop();
  await b.stop();
});
