/**
 * The fast read path (actors/fastRead.ts) on its own, on a real nats-server: node n1's read of a
 * key it holds, with n2 and n3 played by scripted replicas whose answers the test chooses. This
 * is where the cases a healthy cluster never shows are pinned down: a replica failing before the
 * answer (handed to the coordinator), one failing after it (answered, not repaired), a newer
 * version on one owner (merged into the answer, and the other owners repaired).
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
import { tryFastRead } from '../actors/fastRead.ts';
import type { CoordinatorCounters, CoordinatorDeps } from '../actors/coordinator.ts';
import { Health } from '../actors/health.ts';
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
    settings: { n: 3, r: 2, w: 2, requestTimeoutMs: 5_000 },
    subjects,
    log,
    counters,
    outbox,
    health: new Health('n1', ['n1', 'n2', 'n3'], log),
    faults: { vnodeCrashes: 0, coordinatorCrashes: 0, replicaReadRefusals: 0, replyEncodingFailures: 0 },
    ring: () => new Ring(['n1', 'n2', 'n3', 'n1', 'n2', 'n3', 'n1', 'n2']),
    localCopy: () => local,
    vnode: () => 'the vnode',
    vnodeMail: { send: (_vnode: unknown, op: { clock: StoredClock }) => localRepairs.push(op.clock) },
  } as unknown as CoordinatorDeps;
  return { deps, counters, localRepairs, lines };
}

/** Reads `key` on the fast path; the reply or the handover, whichever comes. */
function read(deps: CoordinatorDeps, r?: number): { taken: boolean; outcome: Promise<{ reply?: any; handedOver?: number }> } {
  let settle!: (x: { reply?: any; handedOver?: number }) => void;
  const outcome = new Promise<{ reply?: any; handedOver?: number }>((resolve) => (settle = resolve));
  const taken = tryFastRead('/test/gateway', deps, { key: 'k', encoding: 'utf8', ...(r ? { r } : {}) }, undefined, (reply) => settle({ reply }), (deadlineMs) => settle({ handedOver: deadlineMs }), { attemptMs: 300, repairSettleMs: 1_000 }, () => 1);
  return { taken, outcome };
}

/** Handed over with the deadline it started with: the node's request timeout from the start. */
function handedOverInTime(t: any, outcome: { handedOver?: number }, startedMs: number): void {
  t.is(typeof outcome.handedOver, 'number', JSON.stringify(outcome));
  const afterStartMs = outcome.handedOver! - startedMs;
  t.true(afterStartMs >= 5_000 && afterStartMs <= 5_050, `deadline ${afterStartMs} ms after the start`);
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
  handedOverInTime(t, await outcome, startedMs);
  // Counted once as a get: by the coordinator it was handed to.
  t.deepEqual([counters.gets, counters.fastReads, counters.fastReadHandovers], [0, 1, 1]);
  t.true(deps.health.isUp('n2'), 'a refusal is an answer: n2 stays up');
});

test.serial('fast read - a silent replica after the answer: answered, and that replica is not repaired', async (t) => {
  const p = await peers({ n2: () => ({ ok: true, clock: v2 }), n3: () => 'silent' });
  t.teardown(p.close);
  const { deps, counters, localRepairs } = node(t, v1);
  const { outcome } = read(deps);
  t.deepEqual((await outcome).reply.values, ['v2']);
  // n3's attempt times out (300 ms); read repair then runs with the owners that answered.
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
  // Handed over about 300 ms later, with the deadline of the start, not a new one.
  handedOverInTime(t, await outcome, startedMs);
  t.is(counters.fastReadHandovers, 1);
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
  t.deepEqual([counters.gets, counters.fastReads], [0, 0]);
});
