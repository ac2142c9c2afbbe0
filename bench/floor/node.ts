/**
 * The replication floor: the least a node can do to serve dkv's batch protocol with N=3 replicas,
 * W=2 and R=2, written straight, in one file, without dkv's actors, quorum bookkeeping, sloppy
 * quorum, hints, health, read repair or status. It is not dkv and holds no promise beyond the
 * benchmark: no failure handling at all (a lost reply hangs that operation until the client's
 * deadline). What it answers is what the harness checks, so a wrong or missing value is still
 * an error in the table.
 *
 * It exists to say what part of dkv's cost is the data model and what part is the node around it.
 * Every node coordinates what it receives on the batch queue group (with 3 nodes and N=3 each
 * holds every key): a write is stored locally, sent to both peers, and answered at the second
 * acknowledgement (local commit or a peer's); a read takes the local copy, asks both peers with
 * its digest, and answers at the first peer's reply. Replica traffic is batched per peer and turn,
 * and writes are committed in one lmdb transaction per turn, as dkv does with `--sync periodic`.
 *
 * It also serves the public protocol's single requests (`get`, `put`, `delete`, one operation per
 * request, on the same queue group), so that the `replication-floor-protocol` target can say the
 * same of dkv reached one request per operation.
 *
 * FLOOR_FEATURES switches dkv's own parts in, one at a time, on top of that skeleton:
 * - (none): last writer wins by a version vector, no siblings: the cheapest correct-looking store;
 * - `dvv`: dkv's version sets (src/replica.ts, src/dvvset.ts): contexts, siblings, digests;
 * - `parse`: dkv's validation of the client's batch or request (src/protocol.ts) instead of JSON.parse;
 * - `merkle`: a Merkle tree per partition updated by every write (src/merkle.ts);
 * - `engine`: dkv's lmdb engine (src/storage/lmdb.ts, staging and cache) instead of raw lmdb;
 * - `feed`: the change feed (DESIGN.md §3, src/changeFeed.ts), which the protocol promises: once
 *   a write has its quorum, the coordinator publishes the key's version set as dkv does.
 */
import { hash } from 'node:crypto';
import { connect, type Msg } from '@nats-io/transport-node';
import { open, type RootDatabase } from 'lmdb';
import { decodeInternal, encodeInternal } from '../../src/codec.ts';
import { decodeContext, encodeContext } from '../../src/context.ts';
import { join, liveValues } from '../../src/dvvset.ts';
import { changeEvent } from '../../src/changeFeed.ts';
import { bucketOf, keyHash, MerkleTree } from '../../src/merkle.ts';
import { getReply, parseBatch, parseDelete, parseGet, parsePut, type BatchOp } from '../../src/protocol.ts';
import { coordinateWrite, mergeReplica, putReplyContext, readDigest, reconcile, sameDigest, type StoredClock } from '../../src/replica.ts';
import { subjectsFor } from '../../src/subjects.ts';
import { LmdbStorage } from '../../src/storage/lmdb.ts';
import type { VersionVector } from '../../src/versionVector.ts';
import { parseFloorFeatures } from './features.ts';

const features = new Set<string>(parseFloorFeatures(process.env.FLOOR_FEATURES ?? ''));
const DVV = features.has('dvv');
const FEED = features.has('feed');

const args = process.argv.slice(2);
const arg = (name: string): string => {
  const i = args.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= args.length) throw new Error(`--${name} is required`);
  return args[i + 1]!;
};
const id = arg('id');
const cluster = arg('cluster');
// The public subjects as dkv's nodes serve them (DESIGN.md §3).
const subjects = subjectsFor(cluster);
const peers = arg('members').split(',').filter((m) => m !== id);
const PARTITIONS = 64;
const LIMITS = { n: 3, keyBytesMax: 1024, valueBytesMax: 1024 * 1024 };
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Last-writer-wins record: the value and a version vector; the larger counter sum wins. */
interface Lww {
  v: string;
  c: Array<[string, number]>;
}
type Stored = Lww | StoredClock;

// As dkv's ring does (src/ring.ts): the top bits of a one-shot MD5.
const partitionOf = (key: string): number => hash('md5', key, 'buffer').readUInt16BE(0) % PARTITIONS;
const lwwDigest = (r: Lww | undefined): number => (r === undefined ? 0 : r.c.reduce((h, e) => (h * 31 + e[1]) >>> 0, 7));
const lwwWeight = (r: Lww): number => r.c.reduce((s, e) => s + e[1], 0);

// Storage: raw lmdb with one transaction per turn, or dkv's engine.
const dataDir = arg('data');
const engine = features.has('engine') ? new LmdbStorage<StoredClock>(`${dataDir}/engine`, { sync: 'periodic' }) : undefined;
const db: RootDatabase<Stored, [number, string]> | undefined = engine ? undefined : open({ path: `${dataDir}/floor`, noSync: true, overlappingSync: false });
const cache = new Map<string, Stored>();
let staged: Array<[number, string, Stored]> = [];
let committed: Array<() => void> = [];
const commit = (): void => {
  const writes = staged;
  const done = committed;
  staged = [];
  committed = [];
  db!.transactionSync(() => {
    for (const [p, k, v] of writes) db!.putSync([p, k], v);
  });
  for (const cb of done) cb();
};
const trees = features.has('merkle') ? Array.from({ length: PARTITIONS }, () => new MerkleTree()) : undefined;

function read(p: number, key: string): Stored | undefined {
  if (engine) return engine.get(p, key);
  let r = cache.get(key);
  if (r === undefined) {
    r = db!.get([p, key]);
    if (r !== undefined) cache.set(key, r);
  }
  return r;
}

function store(p: number, key: string, before: Stored | undefined, after: Stored, durable: () => void): void {
  trees?.[p]!.update(bucketOf(key), keyHash(key, before as StoredClock | undefined), keyHash(key, after as StoredClock));
  if (engine) {
    engine.put(p, key, after as StoredClock).then(durable, (err) => console.error(`floor ${id}: write failed`, err));
    return;
  }
  if (staged.length === 0 && committed.length === 0) setImmediate(commit);
  staged.push([p, key, after]);
  cache.set(key, after);
  committed.push(durable);
}

const nc = await connect({ servers: arg('nats'), name: `floor-${id}`, noAsyncTraces: true });

// Outgoing traffic of one turn: client replies, and one replica batch per peer and lane.
const inbox = `_floor.${cluster}.${id}`;
const awaiting = new Map<number, Array<(result: unknown) => void>>();
let sequence = 0;
let lanes = new Map<string, { peer: string; ops: object[]; done: Array<(result: unknown) => void> }>();
let replies: Array<[Msg, Uint8Array]> = [];
let flushing = false;
const flush = (): void => {
  flushing = false;
  for (const [msg, data] of replies) msg.respond(data);
  replies = [];
  for (const b of lanes.values()) {
    const n = ++sequence;
    awaiting.set(n, b.done);
    nc.publish(`_floor.${cluster}.replica.${b.peer}`, encodeInternal(b.ops), { reply: `${inbox}.${n}` });
  }
  lanes = new Map();
};
const later = (): void => {
  if (!flushing) {
    flushing = true;
    setImmediate(flush);
  }
};
const respond = (msg: Msg, data: Uint8Array): void => {
  replies.push([msg, data]);
  later();
};
const ask = (peer: string, lane: 'r' | 'w', op: object, done: (result: unknown) => void): void => {
  let b = lanes.get(lane + peer);
  if (!b) lanes.set(lane + peer, (b = { peer, ops: [], done: [] }));
  b.ops.push(op);
  b.done.push(done);
  later();
};
nc.subscribe(`${inbox}.*`, {
  callback: (_err, msg) => {
    const n = Number(msg.subject.slice(inbox.length + 1));
    const done = awaiting.get(n);
    awaiting.delete(n);
    const results = decodeInternal<unknown[]>(msg.data);
    done?.forEach((d, i) => d(results[i]));
  },
});

// A peer's replica batch: `{k, d}` reads (answer 1 when the digest matches, else the copy or 0),
// `{k, c}` writes (answer 1 once committed).
type ReplicaOp = { k: string; d: unknown } | { k: string; c: Stored };
nc.subscribe(`_floor.${cluster}.replica.${id}`, {
  callback: (_err, msg) => {
    const ops = decodeInternal<ReplicaOp[]>(msg.data);
    const results: unknown[] = new Array(ops.length);
    let pending = 1;
    const settled = (): void => {
      if (--pending === 0) respond(msg, encodeInternal(results));
    };
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      const p = partitionOf(op.k);
      const current = read(p, op.k);
      if ('d' in op) {
        const same = DVV ? sameDigest(readDigest(op.k, (current as StoredClock | undefined) ?? null), op.d) : lwwDigest(current as Lww | undefined) === op.d;
        results[i] = same ? 1 : (current ?? 0);
        continue;
      }
      results[i] = 1;
      const next = DVV ? mergeReplica(current as StoredClock | undefined, op.c as StoredClock) : current === undefined || lwwWeight(op.c as Lww) >= lwwWeight(current as Lww) ? op.c : undefined;
      if (next === undefined) continue;
      pending++;
      store(p, op.k, current, next, settled);
    }
    settled();
  },
});

interface ClientOp {
  op: 'get' | 'put' | 'delete';
  key: string;
  value?: Uint8Array | string | null;
  context?: VersionVector | undefined;
}

/** An operation as dkv's validation reads it (`parse`). */
function fromParsed(b: BatchOp): ClientOp {
  return b.kind === 'get' ? { op: 'get', key: b.req.key } : { op: b.kind, key: b.req.key, value: b.req.value, context: b.req.context };
}

type JsonOp = { op: ClientOp['op']; key: string; value?: string; context?: string };

/** An operation as plain JSON.parse reads it; with `dvv`, its value as bytes and its context as a vector. */
function fromJson(o: JsonOp): ClientOp {
  // Last writer wins echoes no context back.
  if (!DVV) return { op: o.op, key: o.key, value: o.value };
  return { op: o.op, key: o.key, value: o.op === 'delete' ? null : encoder.encode(o.value ?? ''), context: o.context ? decodeContext(o.context) : undefined };
}

function clientOps(data: Uint8Array): ClientOp[] {
  if (features.has('parse')) {
    return parseBatch(data, LIMITS).map((b) => {
      if (b instanceof Error) throw b;
      return fromParsed(b);
    });
  }
  return (JSON.parse(decoder.decode(data)) as { ops: JsonOp[] }).ops.map(fromJson);
}

let counter = 0;

function coordinate(o: ClientOp, answer: (body: object) => void): void {
  const p = partitionOf(o.key);
  const current = read(p, o.key);
  if (o.op === 'get') {
    if (DVV) {
      const mine = (current as StoredClock | undefined) ?? null;
      const d = readDigest(o.key, mine);
      const seen: StoredClock[] = mine ? [mine] : [];
      let replied = 0;
      for (const peer of peers) {
        ask(peer, 'r', { k: o.key, d }, (r) => {
          if (r !== 1 && r !== 0) seen.push(r as StoredClock);
          if (++replied === 1) {
            const merged = reconcile(seen);
            answer(getReply(o.key, liveValues(merged) as Uint8Array[], encodeContext(join(merged)), 'utf8'));
          }
        });
      }
      return;
    }
    const mine = current as Lww | undefined;
    let replied = 0;
    for (const peer of peers) {
      ask(peer, 'r', { k: o.key, d: lwwDigest(mine) }, () => {
        if (++replied === 1) answer({ key: o.key, found: mine !== undefined, values: mine ? [mine.v] : [], context: String(lwwDigest(mine)) });
      });
    }
    return;
  }
  let next: Stored;
  let context: string;
  if (DVV) {
    const written = coordinateWrite(current as StoredClock | undefined, o.context, (o.value as Uint8Array | null) ?? null, id, Date.now());
    next = written;
    context = encodeContext(putReplyContext(written, o.context, id));
  } else {
    const c: Array<[string, number]> = current ? (current as Lww).c.map(([n, k]) => [n, k]) : [];
    const own = c.find((e) => e[0] === id);
    if (own) own[1] = ++counter;
    else c.push([id, ++counter]);
    next = { v: String(o.value ?? ''), c };
    context = String(lwwDigest(next));
  }
  let acks = 0;
  const ack = (): void => {
    if (++acks !== 2) return;
    answer(o.op === 'delete' ? { ok: true } : { ok: true, context });
    if (FEED) nc.publish(subjects.changes(p), encoder.encode(JSON.stringify(changeEvent(o.key, next as StoredClock, Date.now(), 'utf8'))));
  };
  store(p, o.key, current, next, ack);
  for (const peer of peers) ask(peer, 'w', { k: o.key, c: next }, ack);
}

nc.subscribe(subjects.batch, {
  queue: subjects.queue,
  callback: (_err, msg) => {
    let ops: ClientOp[];
    try {
      ops = clientOps(msg.data);
    } catch (err) {
      return respond(msg, encoder.encode(JSON.stringify({ error: { code: 'bad_request', message: (err as Error).message } })));
    }
    const results: object[] = new Array(ops.length);
    let left = ops.length;
    ops.forEach((o, i) =>
      coordinate(o, (body) => {
        results[i] = body;
        if (--left === 0) respond(msg, encoder.encode(JSON.stringify({ results })));
      }),
    );
  },
});

/** The operation of a single request (DESIGN.md §3): its body is a batch element's without "op". */
function singleOp(kind: ClientOp['op'], data: Uint8Array): ClientOp {
  if (features.has('parse')) return fromParsed(kind === 'get' ? { kind, req: parseGet(data, LIMITS) } : { kind, req: kind === 'put' ? parsePut(data, LIMITS) : parseDelete(data, LIMITS) });
  return fromJson({ ...(JSON.parse(decoder.decode(data)) as Omit<JsonOp, 'op'>), op: kind });
}

for (const kind of ['get', 'put', 'delete'] as const) {
  nc.subscribe(subjects[kind], {
    queue: subjects.queue,
    callback: (_err, msg) => {
      let op: ClientOp;
      try {
        op = singleOp(kind, msg.data);
      } catch (err) {
        return respond(msg, encoder.encode(JSON.stringify({ error: { code: 'bad_request', message: (err as Error).message } })));
      }
      coordinate(op, (body) => respond(msg, encoder.encode(JSON.stringify(body))));
    },
  });
}

process.stdout.write(`${JSON.stringify({ event: 'node-started', node: id, floor: [...features] })}\n`);
const stop = async (): Promise<void> => {
  await nc.drain().catch(() => {});
  if (engine) await engine.close();
  else {
    if (staged.length > 0) commit();
    await db!.close();
  }
  process.exit(0);
};
process.once('SIGTERM', () => void stop());
process.once('SIGINT', () => void stop());
// Tied to the harness like dkv's nodes: when its pipe closes, the node goes.
if (process.env.DKV_EXIT_WITH_STDIN === '1') {
  process.stdin.on('end', () => void stop());
  process.stdin.resume();
}
