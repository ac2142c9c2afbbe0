/**
 * Bad input against a real 3-node cluster (DESIGN.md §3): every malformed request on every
 * public subject is answered `{"error": {"code", "message"}}` with the right code, never crashes
 * a node and never changes stored data. The bad requests aim at keys that hold data, so a check
 * that let one through would show up in the get and peek replies recorded before the table.
 */
import test from 'ava';
import { decodeContext } from '../src/context.ts';
import { withVector } from './harness/replies.ts';
import { TestCluster } from './harness/cluster.ts';
import { waitFor } from './harness/wait.ts';

let cluster: TestCluster;

const VALUE_BYTES_MAX = 262_144;
/** Far above the request limit (~1.3x the value limit plus slack), below NATS' 1 MiB payload. */
const HUGE_BYTES = 700_000;

const PLAIN = 'bad-input plain';
const SIBLINGS = 'bad-input siblings';
const DELETED = 'bad-input deleted';
const BINARY = 'bad-input binary';
const RECORDED = [PLAIN, SIBLINGS, DELETED, BINARY, 'bad-input never written'];

const S = {
  get: 'dkv.local.get',
  put: 'dkv.local.put',
  delete: 'dkv.local.delete',
  status: 'dkv.local.status',
  ring: 'dkv.local.ring',
  peek: 'dkv.local.node.n1.peek',
  join: 'dkv.local.admin.join',
  leave: 'dkv.local.admin.leave',
  keys: 'dkv.local.keys',
} as const;
type Op = keyof typeof S;
const ALL: Op[] = ['get', 'put', 'delete', 'status', 'ring', 'peek', 'join', 'leave', 'keys'];
const BODIED: Op[] = ['get', 'put', 'delete', 'peek', 'join', 'leave'];
const KEYED: Op[] = ['get', 'put', 'delete', 'peek'];
const WRITES: Op[] = ['put', 'delete'];

const recordedGets = new Map<string, any>();
/** node id -> key -> peek reply */
const recordedPeeks = new Map<string, Map<string, any>>();
let validContext = '';

const enc = new TextEncoder();
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const getRaw = (key: string): Promise<any> => cluster.client.raw(S.get, { key });
const peekRaw = (node: string, key: string): Promise<any> => cluster.client.raw(`dkv.local.node.${node}.peek`, { key });

async function peeksOf(key: string): Promise<any[]> {
  return Promise.all(cluster.nodes.map((n) => peekRaw(n.id, key)));
}

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
  const c = cluster.client;
  // w=3: every replica (N=3 of 3 nodes) holds each write before the next one, so peeks agree.
  await c.put(PLAIN, 'plain value', { w: 3 });
  await c.put(SIBLINGS, 'sibling a', { w: 3 });
  await c.put(SIBLINGS, 'sibling b', { w: 3 });
  await c.put(DELETED, 'soon gone', { w: 3 });
  await c.delete(DELETED, { context: (await c.get(DELETED)).context, w: 3 });
  await c.put(BINARY, Buffer.from([0, 255, 1, 254]).toString('base64'), { w: 3, encoding: 'base64' });
  for (const key of RECORDED) {
    // The replicas agree before anything is recorded, so a later difference is a change.
    await waitFor(`replicas of ${key} to agree`, async () => {
      const peeks = await peeksOf(key);
      return peeks.every((p) => !p.error && JSON.stringify([p.values.sort(), p.context]) === JSON.stringify([peeks[0].values.sort(), peeks[0].context]));
    });
    recordedGets.set(key, await getRaw(key));
  }
  for (const n of cluster.nodes) {
    const m = new Map<string, any>();
    for (const key of RECORDED) m.set(key, await peekRaw(n.id, key));
    recordedPeeks.set(n.id, m);
  }
  validContext = recordedGets.get(PLAIN).context;
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('bad input - the recorded data is what was written', (t) => {
  t.deepEqual(recordedGets.get(PLAIN).values, ['plain value']);
  t.deepEqual([...recordedGets.get(SIBLINGS).values].sort(), ['sibling a', 'sibling b']);
  t.false(recordedGets.get(DELETED).found);
  t.false(recordedGets.get('bad-input never written').found);
  for (const [id, m] of recordedPeeks) t.deepEqual([...m.get(SIBLINGS).values].sort(), ['sibling a', 'sibling b'], id);
});

interface Row {
  name: string;
  op: Op;
  /** A thunk when the body needs what was recorded before the table (a real context). */
  body: unknown | Uint8Array | (() => unknown);
  code: 'bad_request' | 'too_large';
}

/** A request for `op` aimed at recorded data, right except for what `patch` changes. */
function aimed(op: Op, patch: Record<string, unknown>): Record<string, unknown> {
  const base: Record<string, unknown> = op === 'put' ? { key: PLAIN, value: 'overwritten!' } : op === 'join' || op === 'leave' ? { node: 'n4' } : { key: PLAIN };
  return { ...base, ...patch };
}
const rowsFor = (name: string, ops: Op[], patch: Record<string, unknown>, code: Row['code'] = 'bad_request'): Row[] =>
  ops.map((op) => ({ name, op, body: aimed(op, patch), code }));
const rawRows = (name: string, ops: Op[], body: Uint8Array | unknown, code: Row['code'] = 'bad_request'): Row[] => ops.map((op) => ({ name, op, body, code }));

const table: Row[] = [
    // Bodies that are not a JSON object.
    ...rawRows('non-JSON bytes', ALL, enc.encode('GET / HTTP/1.1')),
    ...rawRows('truncated JSON', ALL, enc.encode(`{"key": "${PLAIN}", "value": "x"`)),
    ...rawRows('invalid UTF-8 bytes', ALL, bytes(0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xfd, 0x22, 0x7d)),
    ...rawRows('an empty payload', BODIED, new Uint8Array(0)),
    ...rawRows('a JSON array', ALL, [{ key: PLAIN, value: 'overwritten!' }]),
    ...rawRows('a JSON string', ALL, PLAIN),
    ...rawRows('a JSON number', ALL, 0),
    ...rawRows('JSON null', ALL, null),
    // The key.
    ...KEYED.map((op): Row => ({ name: 'a missing key', op, body: op === 'put' ? { value: 'v' } : {}, code: 'bad_request' })),
    ...rowsFor('a key that is a number', KEYED, { key: 42 }),
    ...rowsFor('a key that is an object', KEYED, { key: { key: PLAIN } }),
    ...rowsFor('a key that is an array', KEYED, { key: [PLAIN] }),
    ...rowsFor('a key that is null', KEYED, { key: null }),
    ...rowsFor('an empty key', KEYED, { key: '' }),
    ...rowsFor('a key of 1025 bytes', KEYED, { key: 'k'.repeat(1025) }),
    ...rowsFor('a key of 513 two-byte chars (1026 bytes)', KEYED, { key: 'é'.repeat(513) }),
    ...rowsFor('a key of 257 emoji (1028 bytes in 514 UTF-16 units)', KEYED, { key: '🔑'.repeat(257) }),
    ...rowsFor('a key with a lone surrogate', KEYED, { key: 'bad\ud800' }),
    // Encoding.
    ...rowsFor('encoding "hex"', KEYED, { encoding: 'hex' }),
    ...rowsFor('encoding null', KEYED, { encoding: null }),
    // The value.
    { name: 'a missing value', op: 'put', body: { key: PLAIN }, code: 'bad_request' },
    ...rowsFor('a value that is a number', ['put'], { value: 12 }),
    ...rowsFor('a value that is an object', ['put'], { value: { v: 1 } }),
    ...rowsFor('a value that is null', ['put'], { value: null }),
    ...rowsFor('a base64 value that is not base64', ['put'], { value: 'not base64!', encoding: 'base64' }),
    ...rowsFor('a base64 value without padding', ['put'], { value: 'YWI', encoding: 'base64' }),
    ...rowsFor(`a value of ${VALUE_BYTES_MAX + 1} bytes`, ['put'], { value: 'v'.repeat(VALUE_BYTES_MAX + 1) }, 'too_large'),
    ...rowsFor('a value of 131073 two-byte chars', ['put'], { value: 'é'.repeat(VALUE_BYTES_MAX / 2 + 1) }, 'too_large'),
    ...rowsFor(`a base64 value decoding to ${VALUE_BYTES_MAX + 1} bytes`, ['put'], { value: Buffer.alloc(VALUE_BYTES_MAX + 1, 9).toString('base64'), encoding: 'base64' }, 'too_large'),
    // r and w.
    ...rowsFor('r = 0', ['get'], { r: 0 }),
    ...rowsFor('r = 4 (more than N)', ['get'], { r: 4 }),
    ...rowsFor('r = 1.5', ['get'], { r: 1.5 }),
    ...rowsFor('r = "2"', ['get'], { r: '2' }),
    ...rowsFor('w = 0', WRITES, { w: 0 }),
    ...rowsFor('w = 4 (more than N)', WRITES, { w: 4 }),
    ...rowsFor('w = true', WRITES, { w: true }),
    ...rowsFor('w = 1.5', WRITES, { w: 1.5 }),
    // Context.
    ...rowsFor('a context of random garbage', WRITES, { context: 'Zm9vYmFy!@#$garbage' }),
    ...WRITES.map((op): Row => ({ name: 'a context with the wrong prefix', op, body: () => aimed(op, { context: 'c9' + validContext.slice(2) }), code: 'bad_request' })),
    ...rowsFor('a context of valid base64url of a non-array', WRITES, { context: 'c1' + Buffer.from('{"n1":1}').toString('base64url') }),
    ...WRITES.map((op): Row => ({ name: 'a context that is a truncated real one', op, body: () => aimed(op, { context: validContext.slice(0, -3) }), code: 'bad_request' })),
    ...rowsFor('a context that is a number', WRITES, { context: 1 }),
    ...rowsFor('a context that is null', WRITES, { context: null }),
    // The whole request.
    ...rowsFor(`a request of ${HUGE_BYTES} bytes`, ALL, { pad: 'p'.repeat(HUGE_BYTES) }, 'too_large'),
    ...rawRows(`a non-JSON request of ${HUGE_BYTES} bytes`, ALL, new Uint8Array(HUGE_BYTES).fill(0x7b), 'too_large'),
    // Key listing.
    ...rowsFor('limit = 1001', ['keys'], { limit: 1001 }),
    ...rowsFor('limit = 0', ['keys'], { limit: 0 }),
    ...rowsFor('limit = 2.5', ['keys'], { limit: 2.5 }),
    ...rowsFor('limit = "10"', ['keys'], { limit: '10' }),
    ...rowsFor('a prefix that is a number', ['keys'], { prefix: 1 }),
    ...rowsFor('a prefix that is null', ['keys'], { prefix: null }),
    ...rowsFor('a prefix of 1025 bytes', ['keys'], { prefix: 'k'.repeat(1025) }),
    ...rowsFor('a prefix with a lone surrogate', ['keys'], { prefix: 'bad\ud800' }),
    ...rowsFor('an after that is an array', ['keys'], { after: [PLAIN] }),
    ...rowsFor('an empty after', ['keys'], { after: '' }),
    ...rowsFor('an after of 257 emoji (1028 bytes)', ['keys'], { after: '🔑'.repeat(257) }),
    // Admin bodies.
    ...rawRows('a missing node', ['join', 'leave'], {}),
    ...rawRows('a node that is a number', ['join', 'leave'], { node: 3 }),
    ...rawRows('an empty node', ['join', 'leave'], { node: '' }),
];

for (const row of table) {
  test.serial(`bad input - ${S[row.op]}: ${row.name} is ${row.code}`, async (t) => {
    const body = typeof row.body === 'function' ? (row.body as () => unknown)() : row.body;
    const reply = await cluster.client.raw(S[row.op], body);
    const shown = JSON.stringify(reply).slice(0, 300);
    t.deepEqual(Object.keys(reply ?? {}), ['error'], shown);
    t.deepEqual(Object.keys(reply.error ?? {}).sort(), ['code', 'message'], shown);
    t.is(reply.error.code, row.code, shown);
    t.is(typeof reply.error.message, 'string', shown);
    t.true(reply.error.message.length > 0, shown);
  });
}

// The batch subject (the client library's pipeline): a bad batch is one error reply; a bad
// element is answered with its own error in its place, and the other elements are served.
const BATCH = 'dkv.local.batch';
const batchWide: Array<[string, unknown]> = [
  ['non-JSON bytes', enc.encode('GET / HTTP/1.1')],
  ['truncated JSON', enc.encode('{"ops": [{"op": "get", "key": "x"}')],
  ['invalid UTF-8 bytes', bytes(0x7b, 0x22, 0x6f, 0x70, 0x73, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d)],
  ['an empty payload', new Uint8Array(0)],
  ['a JSON array', [{ op: 'put', key: PLAIN, value: 'overwritten!' }]],
  ['JSON null', null],
  ['no "ops"', {}],
  ['"ops" that is an object', { ops: { op: 'put', key: PLAIN, value: 'overwritten!' } }],
  ['"ops" that is empty', { ops: [] }],
  ['1025 ops', { ops: Array.from({ length: 1025 }, () => ({ op: 'put', key: PLAIN, value: 'overwritten!' })) }],
];
// The same handler serves a batch sent to one node (ring-aware clients).
for (const [name, body] of batchWide) for (const subject of [BATCH, 'dkv.local.node.n1.batch']) {
  test.serial(`bad input - ${subject}: ${name} is bad_request`, async (t) => {
    const reply = await cluster.client.raw(subject, body);
    const shown = JSON.stringify(reply).slice(0, 300);
    t.deepEqual(Object.keys(reply ?? {}), ['error'], shown);
    t.is(reply.error.code, 'bad_request', shown);
    t.true(typeof reply.error.message === 'string' && reply.error.message.length > 0, shown);
  });
}

// Every bad get/put/delete body of the table, as an element of a batch, next to a good get. A
// batch as a whole is bounded by NATS's payload limit, not per element, so the rows about the
// whole request's size do not apply; bodies that are raw bytes are batch-wide rows above.
const elementRows = table.filter((r) => (r.op === 'get' || r.op === 'put' || r.op === 'delete') && !(r.body instanceof Uint8Array) && !r.name.startsWith('a request of'));
for (const row of elementRows) {
  test.serial(`bad input - ${BATCH} element: ${row.op} with ${row.name} is ${row.code}`, async (t) => {
    const body = typeof row.body === 'function' ? (row.body as () => unknown)() : row.body;
    const element = body !== null && typeof body === 'object' && !Array.isArray(body) ? { op: row.op, ...body } : body;
    const reply = await cluster.client.raw(BATCH, { ops: [element, { op: 'get', key: PLAIN }] });
    const shown = JSON.stringify(reply).slice(0, 300);
    t.is(reply.results?.length, 2, shown);
    t.deepEqual(Object.keys(reply.results[0]), ['error'], shown);
    t.is(reply.results[0].error.code, row.code, shown);
    t.true(reply.results[0].error.message.length > 0, shown);
    t.deepEqual(withVector(reply.results[1]), withVector(recordedGets.get(PLAIN)));
  });
}

test.serial('bad input - a batch element without a known "op" is bad_request', async (t) => {
  for (const op of [undefined, 'GET', 'peek', 'status', 7]) {
    const reply = await cluster.client.raw(BATCH, { ops: [{ op, key: PLAIN, value: 'overwritten!' }] });
    t.is(reply.results?.[0]?.error?.code, 'bad_request', JSON.stringify(reply));
  }
});

test.serial('bad input - the same bad requests reach every node: peek on n2 and n3', async (t) => {
  for (const node of ['n2', 'n3']) {
    const subject = `dkv.local.node.${node}.peek`;
    const cases: Array<[unknown, string]> = [
      [enc.encode('not json'), 'bad_request'],
      [new Uint8Array(0), 'bad_request'],
      [{ key: 7 }, 'bad_request'],
      [{ key: 'k'.repeat(1025) }, 'bad_request'],
      [{ key: PLAIN, encoding: 'hex' }, 'bad_request'],
      [{ key: PLAIN, pad: 'p'.repeat(HUGE_BYTES) }, 'too_large'],
    ];
    for (const [body, code] of cases) {
      const reply = await cluster.client.raw(subject, body);
      t.is(reply?.error?.code, code, `${subject}: ${JSON.stringify(reply).slice(0, 200)}`);
      t.true(typeof reply?.error?.message === 'string' && reply.error.message.length > 0);
    }
  }
});

// Positive rows: what looks odd but is legal is served normally.

test.serial('bad input - a key of exactly 1024 UTF-8 bytes is accepted, ASCII or multi-byte', async (t) => {
  for (const key of ['k'.repeat(1024), 'é'.repeat(512), '🔑'.repeat(256)]) {
    t.is(Buffer.byteLength(key, 'utf8'), 1024);
    const put = await cluster.client.raw(S.put, { key, value: 'at the limit', w: 3 });
    t.true(put.ok, JSON.stringify(put).slice(0, 200));
    const got = await cluster.client.raw(S.get, { key });
    t.deepEqual(decodeContext(got.context), decodeContext(put.context));
    t.deepEqual(got.values, ['at the limit']);
    t.is(got.key, key);
    t.deepEqual((await cluster.client.raw(S.peek, { key })).values, ['at the limit']);
  }
});

test.serial('bad input - a value of exactly the limit is accepted', async (t) => {
  const value = 'v'.repeat(VALUE_BYTES_MAX);
  const put = await cluster.client.raw(S.put, { key: 'bad-input big', value });
  t.true(put.ok, JSON.stringify(put).slice(0, 200));
  const got = await cluster.client.raw(S.get, { key: 'bad-input big' });
  t.is(got.values.length, 1);
  t.is(got.values[0].length, VALUE_BYTES_MAX);
});

test.serial('bad input - keys named __proto__ and constructor work like any key', async (t) => {
  for (const key of ['__proto__', 'constructor', 'prototype', 'toString']) {
    const put = await cluster.client.raw(S.put, { key, value: `value of ${key}`, w: 3 });
    t.true(put.ok, `${key}: ${JSON.stringify(put)}`);
    const got = await cluster.client.raw(S.get, { key });
    t.deepEqual(withVector(got), withVector({ key, found: true, values: [`value of ${key}`], context: put.context }));
    const peek = await cluster.client.raw(S.peek, { key });
    t.deepEqual(withVector(peek), withVector({ node: 'n1', values: [`value of ${key}`], context: put.context }));
  }
});

test.serial('bad input - unknown fields are ignored', async (t) => {
  t.deepEqual(withVector(await cluster.client.raw(S.get, { key: PLAIN, extra: [1, 2, 3], constructor: 'x' })), withVector(recordedGets.get(PLAIN)));
  t.deepEqual(await cluster.client.raw(S.peek, { key: SIBLINGS, colour: 'blue' }), recordedPeeks.get('n1')!.get(SIBLINGS));
  const put = await cluster.client.raw(S.put, { key: 'bad-input extra', value: 'v', note: { deep: true } });
  t.true(put.ok);
  t.deepEqual((await cluster.client.raw(S.get, { key: 'bad-input extra' })).values, ['v']);
});

test.serial('bad input - status accepts an empty payload, {} and unknown fields', async (t) => {
  for (const body of [new Uint8Array(0), {}, { verbose: true }]) {
    const reply = await cluster.client.raw(S.status, body);
    t.is(reply.error, undefined, JSON.stringify(reply).slice(0, 200));
    t.is(reply.members.length, 3);
  }
});

test.serial('bad input - keys accepts an empty payload, {} and unknown fields, and lists no deleted key', async (t) => {
  for (const body of [new Uint8Array(0), {}, { prefix: 'bad-input ', colour: 'blue', constructor: 'x' }]) {
    const reply = await cluster.client.raw(S.keys, body);
    t.is(reply.error, undefined, JSON.stringify(reply).slice(0, 200));
    for (const key of [PLAIN, SIBLINGS, BINARY]) t.true(reply.keys.includes(key), key);
    t.false(reply.keys.includes(DELETED));
    t.is(reply.next, null);
  }
});

test.serial('bad input - peek accepts "encoding": "base64" like get', async (t) => {
  const get = await cluster.client.raw(S.get, { key: BINARY, encoding: 'base64' });
  t.deepEqual(get.values, [Buffer.from([0, 255, 1, 254]).toString('base64')]);
  for (const n of cluster.nodes) {
    const peek = await cluster.client.raw(`dkv.local.node.${n.id}.peek`, { key: BINARY, encoding: 'base64' });
    t.deepEqual(peek, { node: n.id, values: get.values, context: recordedPeeks.get(n.id)!.get(BINARY).context });
  }
});

test.serial('bad input - afterwards every recorded get and peek reply is unchanged and every node is up', async (t) => {
  for (const key of RECORDED) {
    const before = recordedGets.get(key);
    const after = await getRaw(key);
    t.deepEqual(withVector({ ...after, values: [...after.values].sort() }), withVector({ ...before, values: [...before.values].sort() }), `get ${key}`);
  }
  for (const n of cluster.nodes) {
    for (const key of RECORDED) {
      const before = recordedPeeks.get(n.id)!.get(key);
      const after = await peekRaw(n.id, key);
      t.deepEqual({ ...after, values: [...after.values].sort() }, { ...before, values: [...before.values].sort() }, `peek ${n.id} ${key}`);
    }
  }
  const status = await cluster.client.status();
  t.deepEqual(status.members.map((m: any) => [m.node, m.state]).sort(), [['n1', 'up'], ['n2', 'up'], ['n3', 'up']]);
  for (const n of cluster.nodes) {
    t.true(n.running, `${n.id} is running`);
    // Bad input is an error reply, never a crash that a supervisor had to handle.
    t.deepEqual(n.supervisionLines(), [], `${n.id} logged no supervision decision`);
  }
});
