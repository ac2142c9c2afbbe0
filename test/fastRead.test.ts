/**
 * The fast start of a read (src/getCore.ts) through the real coordinator, on a real nats-server:
 * node n1's read of a key it holds, with n2 and n3 played by scripted replicas whose answers the
 * test chooses. This is where the cases a healthy cluster never shows are pinned down: a replica
 * failing before the answer (the read goes on under the full rules), one failing after it
 * (answered, not repaired), a newer version on one owner (merged into the answer, and the other
 * owners repaired).
 */
import test from 'ava';
import pino from 'pino';
import { Writable } from 'node:stream';
import { connect, type Msg, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.ts';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import { join, values } from '../src/dvvset.ts';
import { coordinateWrite, readDigest, type StoredClock } from '../src/replica.ts';
import { Ring } from '../src/ring.ts';
import { subjectsFor } from '../src/subjects.ts';
import { spawnCoordinator, type CoordinatorDeps } from '../actors/coordinator.ts';
import type { CoordinatorCounters } from '../actors/coordinatorCounters.ts';
import { Health } from '../actors/health.ts';
import { systemClock } from '../actors/clock.ts';
import { Outbox, type ReplicaBatch, type ReplicaOp } from '../actors/outbox.ts';
import type { ReplicaResult } from '../actors/vnode.ts';
import { waitFor } from './harness/wait.ts';

const subjects = subjectsFor('fastread');
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (v: unknown) => new TextDecoder().decode(v as Uint8Array);
/** Old enough that read repair does not wait for it to arrive on its own. */
const OLD_MS = Date.now() - 60_000;
const v1 = coordinateWrite(undefined, undefined, bytes('v1'), 'n9', OLD_MS);
const v2 = coordinateWrite(v1, join(v1), bytes('v2'), 'n9', OLD_MS + 1);

let server: NatsServerHandle;
let nc: NatsConnection;

test.before(async () => {
  server = await startNatsServer();
  nc = await connect({ servers: server.url, noAsyncTraces: true });
});

test.after.always(async () => {
  await nc?.close();
  await server?.stop();
});

type Script = (op: ReplicaOp) => ReplicaResult | 'silent';

/** n2 and n3: every batch they get is recorded and answered op by op by their script. */
async function peers(scripts: Record<'n2' | 'n3', Script>) {
  const seen: Record<string, ReplicaOp[]> = { n2: [], n3: [] };
  const subs = (['n2', 'n3'] as const).map((node) =>
    nc.subscribe(subjects.replica(node), {
      callback: (_err, msg: Msg) => {
        const batch = decodeInternal<ReplicaBatch>(msg.data);
        seen[node]!.push(...batch.ops);
        const results = batch.ops.map(scripts[node]);
        if (results.includes('silent')) return;
        msg.respond(encodeInternal({ results }));
      },
    }),
  );
  await nc.flush();
  return { seen, close: () => subs.forEach((s) => s.unsubscribe()) };
}

function node(t: any, local: StoredClock | null) {
  const lines: any[] = [];
  const log = pino({ level: 'debug' }, new Writable({ write: (c, _e, done) => (lines.push(JSON.parse(String(c))), done()) }));
  const outbox = new Outbox(nc, `_fastread.n1.${Math.random().toString(36).slice(2)}`);
  t.teardown(() => outbox.close());
  const counters = { gets: 0, sameReads: 0, readRepairs: 0, failures: 0, fastReads: 0, fastReadHandovers: 0 } as CoordinatorCounters;
  const localRepairs: StoredClock[] = [];
  const deps = {
    nodeId: 'n1',
    clock: systemClock,
    settings: { n: 3, r: 2, w: 2, requestTimeoutMs: 5_000 },
    subjects,
    log,
    counters,
    outbox,
    health: new Health('n1', ['n1', 'n2', 'n3'], log),
    faults: { vnodeCrashes: 0, coordinatorCrashes: 0, replicaReadRefusals: 0, replyEncodingFailures: 0 },
    ring: () => new Ring(['n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1', 'n2']),
    localCopy: () => local,
    readReplica: () => false,
    vnode: () => 'the vnode',
    vnodeMail: { send: (_vnode: unknown, op: { clock: StoredClock }) => localRepairs.push(op.clock) },
  } as unknown as CoordinatorDeps;
  return { deps, counters, localRepairs, lines };
}

/** Reads `key` through a coordinator; `taken`: it started on the fast path. */
function read(deps: CoordinatorDeps, r?: number): { taken: boolean; outcome: Promise<{ reply: any; atMs: number }> } {
  let settle!: (x: { reply: any; atMs: number }) => void;
  const outcome = new Promise<{ reply: any; atMs: number }>((resolve) => (settle = resolve));
  const before = deps.counters.fastReads;
  spawnCoordinator('/test/gateway', deps, { kind: 'get', req: { key: 'k', encoding: 'utf8', ...(r ? { r } : {}) } }, (reply) => settle({ reply, atMs: Date.now() }));
  return { taken: deps.counters.fastReads > before, outcome };
}

/** Left the fast path and went on under the full rules, within the deadline it started with. */
function handedOverInTime(t: any, counters: CoordinatorCounters, outcome: { reply: any; atMs: number }, startedMs: number): void {
  t.is(counters.fastReadHandovers, 1);
  t.truthy(outcome.reply.error, JSON.stringify(outcome.reply));
  t.true(outcome.atMs - startedMs <= 5_050, `answered ${outcome.atMs - startedMs} ms after the start`);
}

const same: Script = () => ({ ok: true, clock: null, same: true });

test.serial('fast read - agreeing owners: answered from this node\'s copy, digests sent, nothing repaired', async (t) => {
  const p = await peers({ n2: same, n3: same });
  t.teardown(p.close);
  const { deps, counters, localRepairs } = node(t, v1);
  const { taken, outcome } = read(deps);
  t.true(taken);
  const { reply } = await outcome;
  t.deepEqual(reply.values, ['v1']);
  t.true(reply.found);
  await waitFor('both owners asked and answered', () => (counters.sameReads === 2 ? true : undefined));
  for (const node of ['n2', 'n3']) t.deepEqual(p.seen[node]!.map((op) => op.op === 'read' && op.d), [readDigest('k', v1)]);
  t.is(counters.readRepairs, 0);
  t.deepEqual(localRepairs, []);
  t.deepEqual([counters.gets, counters.fastReads, counters.fastReadHandovers], [1, 1, 0]);
});

test.serial('fast read - a newer version on one owner: merged into the answer, this node and the other owner repaired', async (t) => {
  const p = await peers({ n2: () => ({ ok: true, clock: v2 }), n3: same });
  t.teardown(p.close);
  const { deps, counters, localRepairs } = node(t, v1);
  const { outcome } = read(deps);
  t.deepEqual((await outcome).reply.values, ['v2']);
  await waitFor('n3 repaired', () => p.seen.n3!.find((op) => op.op === 'replicate'));
  const repair = p.seen.n3!.find((op) => op.op === 'replicate') as Extract<ReplicaOp, { op: 'replicate' }>;
  t.deepEqual(values(repair.c).map(text), ['v2']);
  t.deepEqual(localRepairs.map((c) => values(c).map(text)), [['v2']]);
  t.is(p.seen.n2!.filter((op) => op.op === 'replicate').length, 0, 'the owner that had it is left alone');
  t.is(counters.readRepairs, 2);
});

test.serial('fast read - a replica refusing before the answer hands the read to the coordinator, which alone answers', async (t) => {
  const p = await peers({ n2: () => ({ ok: false, error: 'partition not held by this node' }), n3: () => 'silent' });
  t.teardown(p.close);
  const { deps, counters } = node(t, v1);
  const startedMs = Date.now();
  const { outcome } = read(deps);
  const done = await outcome;
  // n2 refuses again when asked under the full rules, and no other node can stand in.
  handedOverInTime(t, counters, done, startedMs);
  t.is(done.reply.error.code, 'unavailable');
  t.regex(done.reply.error.message, /n2: partition not held by this node/);
  // Counted once as a get.
  t.deepEqual([counters.gets, counters.fastReads, counters.fastReadHandovers], [1, 1, 1]);
  t.true(deps.health.isUp('n2'), 'a refusal is an answer: n2 stays up');
});

test.serial('fast read - a silent replica after the answer: answered, and that replica is not repaired', async (t) => {
  const p = await peers({ n2: () => ({ ok: true, clock: v2 }), n3: () => 'silent' });
  t.teardown(p.close);
  const { deps, counters, localRepairs } = node(t, v1);
  const { outcome } = read(deps);
  t.deepEqual((await outcome).reply.values, ['v2']);
  // n3's attempt times out (500 ms); read repair then runs with the owners that answered.
  await waitFor('n1 repaired', () => (localRepairs.length > 0 ? true : undefined), { timeoutMs: 3_000 });
  t.is(counters.fastReadHandovers, 0);
  t.is(counters.readRepairs, 1);
  t.is(p.seen.n3!.filter((op) => op.op === 'replicate').length, 0);
});

test.serial('fast read - R=3 with a silent replica: handed over once its attempt times out', async (t) => {
  const p = await peers({ n2: same, n3: () => 'silent' });
  t.teardown(p.close);
  const { deps, counters } = node(t, v1);
  const startedMs = Date.now();
  const { outcome } = read(deps, 3);
  // Handed over once n3's first attempt times out; n3 stays silent under the full rules too.
  handedOverInTime(t, counters, await outcome, startedMs);
});

test.serial('fast read - not taken when an owner is down, when this node holds no complete copy, or when R exceeds N', async (t) => {
  const { deps } = node(t, v1);
  deps.health.observe('n3', 'no-responders');
  t.false(read(deps).taken);
  const { deps: receiving } = node(t, v1);
  (receiving as any).localCopy = () => undefined;
  t.false(read(receiving).taken);
  const { deps: healthy, counters } = node(t, v1);
  t.false(read(healthy, 4).taken);
  // R=4 of N=3 is a full read, which refuses it at once: counted as a get, not as a fast read.
  t.deepEqual([counters.gets, counters.fastReads], [1, 0]);
});
