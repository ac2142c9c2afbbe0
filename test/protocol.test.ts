/**
 * src/protocol.ts without a network: every way a client body can be wrong gets a typed error
 * with the protocol's code, and every right body parses to exactly the fields it carried.
 */
import test from 'ava';
import fc from 'fast-check';
import { encodeContext } from '../src/context.ts';
import { DkvError, type ErrorCode } from '../src/errors.ts';
import {
  encodeValue,
  getReply,
  parseDelete,
  parseGet,
  parseNodeRequest,
  parsePeek,
  parsePut,
  parseStatus,
  requestBytesMax,
  type Limits,
} from '../src/protocol.ts';

const limits: Limits = { n: 3, keyBytesMax: 1024, valueBytesMax: 262_144 };

const enc = new TextEncoder();
const json = (x: unknown): Uint8Array => enc.encode(JSON.stringify(x));
const bytes = (...b: number[]): Uint8Array => Uint8Array.from(b);
const utf8Len = (s: string): number => Buffer.byteLength(s, 'utf8');
const ctx = (x: unknown): string => 'c1' + Buffer.from(JSON.stringify(x), 'utf8').toString('base64url');
const VALID_CONTEXT = encodeContext([['n1', 2], ['n2', 1]]);

type Parser = 'get' | 'put' | 'delete' | 'peek' | 'status' | 'node';
const parsers: Record<Parser, (d: Uint8Array) => unknown> = {
  get: (d) => parseGet(d, limits),
  put: (d) => parsePut(d, limits),
  delete: (d) => parseDelete(d, limits),
  peek: (d) => parsePeek(d, limits),
  status: (d) => parseStatus(d, limits),
  node: (d) => parseNodeRequest(d, limits),
};

const KEYED: Parser[] = ['get', 'put', 'delete', 'peek'];
const WRITES: Parser[] = ['put', 'delete'];
const ALL_BODIES: Parser[] = ['get', 'put', 'delete', 'peek', 'node'];

interface Row {
  name: string;
  on: Parser[];
  body: Uint8Array;
  code: ErrorCode;
}

/** A body for `on` that is right except for what `patch` changes. */
const withKey = (patch: Record<string, unknown>, p: Parser): Record<string, unknown> => ({ key: 'k', ...(p === 'put' ? { value: 'v' } : {}), ...patch });
const rows = (name: string, on: Parser[], patch: Record<string, unknown>, code: ErrorCode = 'bad_request'): Row[] =>
  on.map((p) => ({ name, on: [p], body: json(withKey(patch, p)), code }));

const badRows: Row[] = [
  // Bodies that are not a JSON object.
  { name: 'non-JSON bytes', on: [...ALL_BODIES, 'status'], body: enc.encode('hello, not json'), code: 'bad_request' },
  { name: 'truncated JSON', on: [...ALL_BODIES, 'status'], body: enc.encode('{"key": "k"'), code: 'bad_request' },
  { name: 'invalid UTF-8', on: [...ALL_BODIES, 'status'], body: bytes(0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d), code: 'bad_request' },
  { name: 'overlong UTF-8 encoding of "/"', on: KEYED, body: bytes(0x7b, 0x22, 0x6b, 0x65, 0x79, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d), code: 'bad_request' },
  { name: 'empty payload', on: ALL_BODIES, body: new Uint8Array(0), code: 'bad_request' },
  { name: 'whitespace only', on: [...ALL_BODIES, 'status'], body: enc.encode('  \n'), code: 'bad_request' },
  { name: 'JSON array', on: [...ALL_BODIES, 'status'], body: json([{ key: 'k', value: 'v' }]), code: 'bad_request' },
  { name: 'JSON string', on: [...ALL_BODIES, 'status'], body: json('k'), code: 'bad_request' },
  { name: 'JSON number', on: [...ALL_BODIES, 'status'], body: json(42), code: 'bad_request' },
  { name: 'JSON true', on: [...ALL_BODIES, 'status'], body: json(true), code: 'bad_request' },
  { name: 'JSON null', on: [...ALL_BODIES, 'status'], body: json(null), code: 'bad_request' },
  // The key.
  ...KEYED.map((p): Row => ({ name: 'missing key', on: [p], body: json(p === 'put' ? { value: 'v' } : {}), code: 'bad_request' })),
  ...rows('key is a number', KEYED, { key: 7 }),
  ...rows('key is an object', KEYED, { key: { k: 1 } }),
  ...rows('key is an array', KEYED, { key: ['k'] }),
  ...rows('key is null', KEYED, { key: null }),
  ...rows('key is true', KEYED, { key: true }),
  ...rows('key is empty', KEYED, { key: '' }),
  ...rows('key of 1025 ASCII bytes', KEYED, { key: 'k'.repeat(1025) }),
  ...rows('key of 513 two-byte chars (1026 bytes)', KEYED, { key: 'é'.repeat(513) }),
  ...rows('key of 342 three-byte chars (1026 bytes)', KEYED, { key: '€'.repeat(342) }),
  ...rows('key of 257 emoji (1028 bytes, 514 UTF-16 units)', KEYED, { key: '😀'.repeat(257) }),
  ...rows('key with a lone surrogate', KEYED, { key: 'a\ud800b' }),
  // A field named __proto__ is a field, not a prototype: the key inside it does not count.
  ...KEYED.map((p): Row => ({ name: '__proto__ field carrying the key', on: [p], body: enc.encode(`{"__proto__": ${JSON.stringify(withKey({}, p))}}`), code: 'bad_request' })),
  // Encoding.
  ...rows('encoding "hex"', KEYED, { encoding: 'hex' }),
  ...rows('encoding "BASE64"', KEYED, { encoding: 'BASE64' }),
  ...rows('encoding "utf8" spelled out', KEYED, { encoding: 'utf8' }),
  ...rows('encoding null', KEYED, { encoding: null }),
  ...rows('encoding true', KEYED, { encoding: true }),
  // r and w.
  ...rows('r = 0', ['get'], { r: 0 }),
  ...rows('r = 4 (> N)', ['get'], { r: 4 }),
  ...rows('r = -1', ['get'], { r: -1 }),
  ...rows('r = 1.5', ['get'], { r: 1.5 }),
  ...rows('r = "2"', ['get'], { r: '2' }),
  ...rows('r = null', ['get'], { r: null }),
  ...rows('r = 1e300', ['get'], { r: 1e300 }),
  ...rows('w = 0', WRITES, { w: 0 }),
  ...rows('w = 4 (> N)', WRITES, { w: 4 }),
  ...rows('w = true', WRITES, { w: true }),
  ...rows('w = 2.5', WRITES, { w: 2.5 }),
  ...rows('w = "2"', WRITES, { w: '2' }),
  ...rows('w = [2]', WRITES, { w: [2] }),
  // Context.
  ...rows('context of random garbage', WRITES, { context: 'x$%^&*garbage' }),
  ...rows('context with the wrong prefix', WRITES, { context: 'c2' + VALID_CONTEXT.slice(2) }),
  ...rows('context without prefix', WRITES, { context: VALID_CONTEXT.slice(2) }),
  ...rows('context that is only the prefix', WRITES, { context: 'c1' }),
  ...rows('context: valid base64url of an object', WRITES, { context: ctx({ n1: 1 }) }),
  ...rows('context: valid base64url of a string', WRITES, { context: ctx('n1') }),
  ...rows('context: valid base64url of non-JSON', WRITES, { context: 'c1' + Buffer.from('not json').toString('base64url') }),
  ...rows('context: an unsorted vector', WRITES, { context: ctx([['n2', 1], ['n1', 1]]) }),
  ...rows('context: a zero counter', WRITES, { context: ctx([['n1', 0]]) }),
  ...rows('context: padded base64', WRITES, { context: 'c1' + Buffer.from('[]x').toString('base64') + '=' }),
  ...rows('context truncated', WRITES, { context: VALID_CONTEXT.slice(0, -3) }),
  ...rows('context longer than any issued', WRITES, { context: 'c1' + 'A'.repeat(9000) }),
  ...rows('context is a number', WRITES, { context: 12 }),
  ...rows('context is null', WRITES, { context: null }),
  ...rows('context is an array', WRITES, { context: [['n1', 1]] }),
  // The value.
  { name: 'missing value', on: ['put'], body: json({ key: 'k' }), code: 'bad_request' },
  ...rows('value is a number', ['put'], { value: 1 }),
  ...rows('value is an object', ['put'], { value: { a: 1 } }),
  ...rows('value is null', ['put'], { value: null }),
  ...rows('value is an array', ['put'], { value: ['v'] }),
  ...rows('value with a lone surrogate', ['put'], { value: '\udc00' }),
  ...rows('base64 value with invalid characters', ['put'], { value: 'not base64!', encoding: 'base64' }),
  ...rows('base64 value without padding', ['put'], { value: 'YQ', encoding: 'base64' }),
  ...rows('base64url value', ['put'], { value: '-_-_', encoding: 'base64' }),
  ...rows('value of 262145 bytes', ['put'], { value: 'v'.repeat(262_145) }, 'too_large'),
  ...rows('value of 131073 two-byte chars (262146 bytes)', ['put'], { value: 'é'.repeat(131_073) }, 'too_large'),
  ...rows('base64 value decoding to 262145 bytes', ['put'], { value: Buffer.alloc(262_145, 7).toString('base64'), encoding: 'base64' }, 'too_large'),
  // The whole request.
  { name: 'a 700 KB JSON request', on: ALL_BODIES, body: json({ key: 'k', value: 'v', pad: 'p'.repeat(700_000) }), code: 'too_large' },
  { name: 'a 700 KB non-JSON request', on: [...ALL_BODIES, 'status'], body: new Uint8Array(700_000).fill(0xff), code: 'too_large' },
  // Admin bodies.
  { name: 'missing node', on: ['node'], body: json({}), code: 'bad_request' },
  { name: 'node is a number', on: ['node'], body: json({ node: 1 }), code: 'bad_request' },
  { name: 'node is empty', on: ['node'], body: json({ node: '' }), code: 'bad_request' },
];

for (const row of badRows) {
  for (const p of row.on) {
    test(`protocol - ${p}: ${row.name} is ${row.code}`, (t) => {
      const err = t.throws(() => parsers[p](row.body), { instanceOf: DkvError });
      t.is(err?.code, row.code);
      t.true((err?.message.length ?? 0) > 0);
    });
  }
}

test('protocol - get: key, default encoding, no r', (t) => {
  t.deepEqual(parseGet(json({ key: 'k' }), limits), { key: 'k', encoding: 'utf8' });
});

test('protocol - get: r in 1..N and base64 encoding are kept', (t) => {
  for (const r of [1, 2, 3]) t.deepEqual(parseGet(json({ key: 'k', r, encoding: 'base64' }), limits), { key: 'k', r, encoding: 'base64' });
  // 2.0 is the integer 2 in JSON.
  t.is(parseGet(enc.encode('{"key":"k","r":2.0}'), limits).r, 2);
});

test('protocol - keys of exactly 1024 UTF-8 bytes are accepted, whatever the characters', (t) => {
  for (const key of ['k'.repeat(1024), 'é'.repeat(512), '😀'.repeat(256), '€'.repeat(341) + 'a']) {
    t.is(utf8Len(key), 1024);
    for (const p of KEYED) t.is((parsers[p](json(withKey({ key }, p))) as { key: string }).key, key, p);
  }
});

test('protocol - keys are opaque: __proto__, constructor, dots and wildcards', (t) => {
  for (const key of ['__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'a.b.*.>', ' ', '\u0000', 'ключ 🔑']) {
    t.is(parseGet(json({ key }), limits).key, key);
    t.is(parsePut(json({ key, value: key }), limits).key, key);
  }
});

test('protocol - unknown fields are ignored, including __proto__ and constructor', (t) => {
  const body = enc.encode('{"key":"k","value":"v","extra":[1,2],"constructor":{"x":1},"__proto__":{"w":1}}');
  const req = parsePut(body, limits);
  t.deepEqual(req, { key: 'k', value: Buffer.from('v'), encoding: 'utf8' });
  t.is(req.w, undefined);
  t.deepEqual(parseGet(json({ key: 'k', extra: true }), limits), { key: 'k', encoding: 'utf8' });
});

test('protocol - put: value bytes, w and the decoded context', (t) => {
  const req = parsePut(json({ key: 'k', value: 'héllo', w: 3, context: VALID_CONTEXT }), limits);
  t.is(req.key, 'k');
  t.deepEqual(Buffer.from(req.value!), Buffer.from('héllo', 'utf8'));
  t.is(req.encoding, 'utf8');
  t.is(req.w, 3);
  t.deepEqual(req.context, [['n1', 2], ['n2', 1]]);
  // The empty string is a value, and the empty context is a context.
  const empty = parsePut(json({ key: 'k', value: '', context: encodeContext([]) }), limits);
  t.is(empty.value!.length, 0);
  t.deepEqual(empty.context, []);
});

test('protocol - put: base64 values are decoded to their raw bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (raw) => {
      const req = parsePut(json({ key: 'k', value: Buffer.from(raw).toString('base64'), encoding: 'base64' }), limits);
      t.is(req.encoding, 'base64');
      t.deepEqual(Buffer.from(req.value!), Buffer.from(raw));
      t.is(encodeValue(req.value!, 'base64'), Buffer.from(raw).toString('base64'));
    }),
  );
});

test('protocol - put: utf8 values round-trip through encodeValue', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (s) => {
      const req = parsePut(json({ key: 'k', value: s }), limits);
      t.is(encodeValue(req.value!, 'utf8'), s);
    }),
  );
});

test('protocol - values of exactly the limit are accepted, utf8 and base64', (t) => {
  t.is(parsePut(json({ key: 'k', value: 'v'.repeat(262_144) }), limits).value!.length, 262_144);
  t.is(parsePut(json({ key: 'k', value: 'é'.repeat(131_072) }), limits).value!.length, 262_144);
  t.is(parsePut(json({ key: 'k', value: Buffer.alloc(262_144, 1).toString('base64'), encoding: 'base64' }), limits).value!.length, 262_144);
});

test('protocol - the largest legal request fits under the request limit', (t) => {
  // Longest key, value at the limit in base64, the longest context that decodes, w and encoding.
  const body = json({ key: '😀'.repeat(256), value: Buffer.alloc(262_144, 1).toString('base64'), encoding: 'base64', w: 3, context: VALID_CONTEXT });
  t.true(body.length <= requestBytesMax(limits));
  t.is(parsePut(body, limits).value!.length, 262_144);
  // ~1.3x the value limit plus slack, and below NATS' 1 MiB payload maximum.
  t.true(requestBytesMax(limits) > (262_144 * 4) / 3);
  t.true(requestBytesMax(limits) < 1024 * 1024);
});

test('protocol - delete: a tombstone with w and context', (t) => {
  t.deepEqual(parseDelete(json({ key: 'k' }), limits), { key: 'k', value: null, encoding: 'utf8' });
  t.deepEqual(parseDelete(json({ key: 'k', w: 1, context: VALID_CONTEXT }), limits), { key: 'k', value: null, encoding: 'utf8', w: 1, context: [['n1', 2], ['n2', 1]] });
  // A delete carries no value: one sent along is ignored, not stored.
  t.is(parseDelete(json({ key: 'k', value: 'v' }), limits).value, null);
});

test('protocol - peek: key and optional base64 encoding', (t) => {
  t.deepEqual(parsePeek(json({ key: 'k' }), limits), { key: 'k', encoding: 'utf8' });
  t.deepEqual(parsePeek(json({ key: 'k', encoding: 'base64' }), limits), { key: 'k', encoding: 'base64' });
});

test('protocol - status: an empty payload or any JSON object', (t) => {
  t.deepEqual(parseStatus(new Uint8Array(0), limits), {});
  t.deepEqual(parseStatus(json({}), limits), {});
  t.deepEqual(parseStatus(json({ verbose: true }), limits), {});
});

test('protocol - admin: node id', (t) => {
  t.deepEqual(parseNodeRequest(json({ node: 'n4' }), limits), { node: 'n4' });
});

test('protocol - getReply: found iff any live value, values encoded as asked', (t) => {
  t.deepEqual(getReply('k', [], 'c1W10', 'utf8'), { key: 'k', found: false, values: [], context: 'c1W10' });
  t.deepEqual(getReply('k', [Buffer.from('a'), Buffer.from([0xff])], 'c1W10', 'base64'), { key: 'k', found: true, values: ['YQ==', '/w=='], context: 'c1W10' });
});

test('protocol - no body of any shape throws anything but a DkvError', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        fc.jsonValue().map((v) => json(v)),
        fc.record({ key: fc.anything(), value: fc.anything(), r: fc.anything(), w: fc.anything(), context: fc.anything(), encoding: fc.anything() }, { requiredKeys: [] }).map((v) => {
          try {
            return json(v);
          } catch {
            return new Uint8Array(0); // BigInt and friends do not serialize
          }
        }),
      ),
      (body) => {
        for (const parse of Object.values(parsers)) {
          try {
            parse(body);
          } catch (err) {
            t.true(err instanceof DkvError, String(err));
            t.true((err as DkvError).code === 'bad_request' || (err as DkvError).code === 'too_large');
          }
        }
      },
    ),
  );
});
