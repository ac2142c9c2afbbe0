/**
 * The fuzz tier: random and adversarial-but-well-typed messages sent to every internal subject
 * and to the reply inboxes of a live 3-node cluster (anyone on the NATS account can publish
 * there). Afterwards: every node is alive and logged no unhandled error, the ring is unchanged,
 * and a fixed data set reads back identically at r=3.
 *
 * Well-typed messages are valid ones with one field replaced by a random value, or aimed at keys
 * outside the fixed data set: a valid replica write is a replica write (nodes trust nodes, NATS
 * permissions fence the subjects), so only its malformed variants must change nothing.
 */
import fc from 'fast-check';
import { connect } from '@nats-io/transport-node';
import { Packr } from 'msgpackr';
import { coordinateWrite } from '../../src/replica.ts';
import { TestCluster } from '../harness/cluster.ts';
import { withVector } from '../harness/replies.ts';

export interface FuzzOptions {
  readonly seed: number;
  readonly count: number;
  readonly say?: (line: string) => void;
}

export interface FuzzReport {
  readonly seed: number;
  readonly sent: number;
  readonly bySubject: Record<string, number>;
  readonly problems: string[];
}

const NODES = ['n1', 'n2', 'n3'];
const FIXED_KEYS = 40;
/** Messages in flight at once: enough to interleave with the nodes' own work. */
const IN_FLIGHT_MAX = 64;
/** Publishing pauses for the nodes every this many messages, so the run measures robustness, not NATS's slow-consumer limit. */
const FLUSH_EVERY = 200;

// Any msgpack the sender can make, extensions included (dates, sets, maps, 64-bit integers).
const anyPackr = new Packr({ useRecords: false, moreTypes: true });
const enc = new TextEncoder();

function templates(): Record<string, unknown[]> {
  const clock = coordinateWrite(coordinateWrite(undefined, undefined, enc.encode('v'), 'n1.fuzzzzz', 1), undefined, enc.encode('w'), 'n2.fuzzzzz', 2);
  return {
    replica: [
      { ops: [{ op: 'read', p: 3, k: 'fuzz/a', d: [1, 2] }], from: 'n1', rv: 1 },
      { ops: [{ op: 'replicate', p: 3, k: 'fuzz/b', c: clock }], from: 'n2', rv: 1 },
      { ops: [{ op: 'replicate', p: 3, k: 'fuzz/c', c: clock, h: ['n3'] }] },
      { ops: [{ op: 'reap', p: 3, k: 'fuzz/d', c: clock }] },
    ],
    coordinate: [{ op: 'coordinate', kind: 'put', req: { key: 'fuzz/e', value: enc.encode('x'), encoding: 'utf8' } }],
    transfer: [{ type: 'page', p: 3, limit: 10, rv: 1 }, { type: 'state', p: 3 }],
    ae: [{ type: 'hashes', p: 3, level: 1, idx: [0, 1] }, { type: 'keys', p: 3, buckets: [1] }, { type: 'clocks', p: 3, keys: ['fuzz/a'] }],
    membership: [{ type: 'join', node: 'n1' }, { type: 'gossip', view: { members: [], ring: {}, vv: [] } }],
    stats: [{}],
    ping: [{}],
  };
}

/** Every path into `x` down to `depthMax` (array indexes and object keys). */
function paths(x: unknown, depthMax = 4, prefix: Array<string | number> = []): Array<Array<string | number>> {
  if (depthMax === 0 || x === null || typeof x !== 'object' || x instanceof Uint8Array) return [];
  const children: Array<[string | number, unknown]> = Array.isArray(x) ? x.map((v, i) => [i, v]) : Object.entries(x);
  return children.flatMap(([k, v]) => [[...prefix, k], ...paths(v, depthMax - 1, [...prefix, k])]);
}

/** `x` with the value at `path` replaced by `v`. */
function replaced(x: unknown, path: Array<string | number>, v: unknown): unknown {
  if (path.length === 0) return v;
  const [head, ...rest] = path;
  if (Array.isArray(x)) return x.map((item, i) => (i === head ? replaced(item, rest, v) : item));
  return { ...(x as object), [head!]: replaced((x as Record<string, unknown>)[head as string], rest, v) };
}

const KEY_FIELDS = new Set(['k', 'key', 'after', 'keys']);

/**
 * One field of `x` replaced by `v`: half the time a key field (keys reach storage, whose limits
 * differ from the protocol's) replaced by `key`, else a field chosen uniformly among its paths.
 */
function mutate(x: unknown, v: unknown, key: unknown, pick: () => number): unknown {
  const all = paths(x);
  if (all.length === 0) return v;
  const keyPaths = all.filter((p) => KEY_FIELDS.has(String(p[p.length - 1])) || KEY_FIELDS.has(String(p[p.length - 2])));
  if (keyPaths.length > 0 && pick() < 0.5) return replaced(x, keyPaths[Math.floor(pick() * keyPaths.length)]!, key);
  return replaced(x, all[Math.floor(pick() * all.length)]!, v);
}

/** Keys past the protocol's 1024 bytes and lmdb's 1978, and keys that are not well-formed strings. */
const nastyKey = fc.oneof(
  fc.integer({ min: 1025, max: 6000 }).map((n) => 'k'.repeat(n)),
  fc.integer({ min: 300, max: 2000 }).map((n) => '🔑'.repeat(n)),
  fc.constantFrom<unknown>('', '\ud800', 42, null, ['k'], new Uint8Array(4)),
);

/** What breaks code that trusts a field: sizes past lmdb's key limit, unsafe and odd numbers, wrong types. */
const nasty = fc.constantFrom<unknown>(
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 2,
  2 ** 64,
  -1,
  1.5,
  NaN,
  Infinity,
  'k'.repeat(2000),
  'é'.repeat(1500),
  'x'.repeat(70_000),
  '',
  '\u0000',
  '\ud800',
  '__proto__',
  [],
  {},
  null,
  true,
  new Uint8Array(0),
  new Uint8Array(300_000),
  new Date(0),
  2n ** 64n,
  Array.from({ length: 5000 }, (_, i) => i),
  { e: [['n1', Number.MAX_SAFE_INTEGER, [], 0]], a: [] },
  { e: [['n2', 1, [], 0], ['n1', 1, [], 0]], a: [] },
  { e: Array.from({ length: 2000 }, (_, i) => [`a${String(i).padStart(5, '0')}`, 1, [], 0]), a: [] },
);

const adversarial = fc.oneof(
  { weight: 3, arbitrary: nasty },
  { weight: 1, arbitrary: fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true, maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.string({ maxLength: 3000 }) },
);

export async function runFuzz(opts: FuzzOptions): Promise<FuzzReport> {
  const say = opts.say ?? (() => {});
  say(`fuzz: seed ${opts.seed}, ${opts.count} messages`);
  const cluster = await TestCluster.start({ nodes: NODES.length });
  const problems: string[] = [];
  const bySubject: Record<string, number> = {};
  try {
    const keys = Array.from({ length: FIXED_KEYS }, (_, i) => `fixed.${i} *`);
    for (const k of keys) await cluster.client.put(k, `value of ${k}`, { w: 3 });
    const before = await Promise.all(keys.map((k) => cluster.client.get(k, { r: 3 })));
    const ringBefore = (await cluster.client.status()).ring;

    const nc = await connect({ servers: cluster.nats.url, noAsyncTraces: true });
    const shapes = templates();
    const kinds = Object.keys(shapes);
    const message = fc.tuple(
      fc.constantFrom(...NODES),
      fc.constantFrom(...kinds, 'inbox'),
      fc.oneof(
        { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }).map((b) => ({ raw: b })) },
        { weight: 1, arbitrary: adversarial.map((v) => ({ value: v })) },
        { weight: 3, arbitrary: fc.tuple(fc.nat(), adversarial, nastyKey, fc.infiniteStream(fc.double({ min: 0, max: 0.999 }))).map(([t, v, key, s]) => ({ template: t, value: v, key, stream: s })) },
      ),
    );
    const samples = fc.sample(message, { numRuns: opts.count, seed: opts.seed });
    let sent = 0;
    const pending = new Set<Promise<unknown>>();
    for (const [node, kind, body] of samples) {
      const subject = kind === 'inbox' ? `dkv.local.internal.${node}.inbox.${1 + (sent % 500)}` : `dkv.local.internal.${node}.${kind === 'ae' ? 'ae' : kind}`;
      let data: Uint8Array;
      try {
        if ('raw' in body) data = body.raw;
        else if ('template' in body) {
          const list = shapes[kind === 'inbox' ? 'replica' : kind]!;
          const it = body.stream[Symbol.iterator]();
          data = anyPackr.pack(mutate(list[body.template % list.length], body.value, body.key, () => it.next().value as number));
        } else data = anyPackr.pack(body.value);
      } catch {
        continue; // a value msgpack cannot carry
      }
      bySubject[kind] = (bySubject[kind] ?? 0) + 1;
      sent++;
      const p = nc.request(subject, data, { timeout: 2_000 }).catch(() => undefined);
      pending.add(p);
      void p.finally(() => pending.delete(p));
      if (pending.size >= IN_FLIGHT_MAX) await Promise.race(pending);
      if (sent % FLUSH_EVERY === 0) await nc.flush();
      if (sent % 10_000 === 0) say(`fuzz: ${sent} sent`);
    }
    await Promise.all(pending);
    await nc.close();

    for (const n of cluster.nodes) {
      if (!n.running) problems.push(`${n.id} is not running`);
      const bad = n.logs.filter((l) => l.event === 'unhandled' || /reader closed|unhandled/i.test(l.msg ?? '') || (l.event === 'supervision' && l.decision !== 'resume'));
      for (const l of bad.slice(0, 3)) problems.push(`${n.id} logged ${l.event}: ${l.msg} ${l.err?.message ?? ''}`);
      if (n.stderr.some((s) => /Unhandled|TypeError|RangeError/.test(s))) problems.push(`${n.id} wrote an error to stderr: ${n.stderr.join('').slice(-300)}`);
    }
    try {
      const ringAfter = (await cluster.client.status()).ring;
      if (JSON.stringify(ringAfter.owners) !== JSON.stringify(ringBefore.owners) || JSON.stringify(ringAfter.nodes) !== JSON.stringify(ringBefore.nodes)) problems.push('the ring changed');
      const after = await Promise.all(keys.map((k) => cluster.client.get(k, { r: 3 })));
      keys.forEach((k, i) => {
        if (JSON.stringify(withVector(after[i])) !== JSON.stringify(withVector(before[i]))) problems.push(`${k} changed: ${JSON.stringify(before[i])} -> ${JSON.stringify(after[i])}`);
      });
    } catch (err) {
      problems.push(`the cluster does not answer after the fuzz: ${(err as Error).message}`);
    }
    say(`fuzz: seed ${opts.seed}: ${sent} messages (${Object.entries(bySubject).map(([k, v]) => `${k} ${v}`).join(', ')}), ${problems.length} problems`);
    return { seed: opts.seed, sent, bySubject, problems };
  } finally {
    await cluster.stop();
  }
}
