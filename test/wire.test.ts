import test from 'ava';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { coordinateWrite } from '../src/replica.ts';
import {
  decodeInternal,
  encodeInternal,
  isWireClock,
  parseAeReply,
  parseAeRequest,
  parseForwardedWrite,
  parseReplicaBatch,
  parseReplicaOp,
  parseReplicaResults,
  parseStats,
  parseTransferReply,
  parseTransferRequest,
  plainJson,
  WIRE_COUNTER_MAX,
  WireError,
} from '../src/wire.ts';

/** Bytes decode as Buffers: compare bytes as hex and objects with sorted keys. */
const same = (x: unknown): unknown =>
  x instanceof Uint8Array ? Buffer.from(x).toString('hex') : Array.isArray(x) ? x.map(same) : x !== null && typeof x === 'object' ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, v]) => [k, same(v)])) : x;
const limits = { q: 64, n: 3, keyBytesMax: 1024, valueBytesMax: 256 * 1024 };
const enc = new TextEncoder();
const parsers: Array<[string, (b: Uint8Array) => unknown]> = [
  ['replica batch', (b) => parseReplicaBatch(b, 256)],
  ['replica results', (b) => parseReplicaResults(b, 3, limits)],
  ['forwarded write', (b) => parseForwardedWrite(b, limits)],
  ['transfer request', (b) => parseTransferRequest(b, limits)],
  ['transfer reply', (b) => parseTransferReply(b, limits)],
  ['anti-entropy request', (b) => parseAeRequest(b, limits)],
  ['anti-entropy reply', (b) => parseAeReply(b, limits)],
  ['status figures', (b) => parseStats(b)],
];

/** Throws only WireError, whatever it is given. */
function onlyWireErrors(t: import('ava').ExecutionContext, bytes: Uint8Array): void {
  for (const [what, parse] of parsers) {
    try {
      parse(bytes);
    } catch (err) {
      t.true(err instanceof WireError, `${what}: ${(err as Error)?.name}: ${(err as Error)?.message}`);
    }
  }
}

test('wire - random bytes and random msgpack values make every parser answer or throw a WireError, nothing else', (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => onlyWireErrors(t, bytes)), { numRuns: 300 });
  fc.assert(fc.property(fc.anything({ withBigInt: false, withDate: true, withMap: true, withSet: true, withTypedArray: true, withNullPrototype: true }), (v) => onlyWireErrors(t, new Packr({ useRecords: false }).pack(v))), { numRuns: 300 });
  for (const op of [{ op: 'replicate', p: 1, k: 'k', c: { e: [['n1', 1, [new Date()], 0]], a: [] } }, { op: 'read', p: 1, k: 'k', d: [1, 2 ** 40] }]) {
    t.is(typeof parseReplicaOp(decodeInternal(new Packr({ useRecords: false }).pack(op)), limits), 'string');
  }
});

test('wire - every clock the store makes passes; unsafe counters, extensions, oversized keys and wrong partitions do not', (t) => {
  let clock = coordinateWrite(undefined, undefined, enc.encode('v'), 'n1.abcdefg', 1);
  for (let i = 0; i < 20; i++) clock = coordinateWrite(clock, undefined, i % 3 ? enc.encode(`v${i}`) : null, i % 2 ? 'n2.xxxxxxx' : 'n3~abcdef/1', i);
  const op = { op: 'replicate', p: 5, k: 'a.b *>', c: clock };
  t.deepEqual(same(parseReplicaOp(decodeInternal(encodeInternal(op)), limits)), same(op));
  t.true(isWireClock(clock, limits));

  const u64 = new Uint8Array([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  t.is(typeof decodeInternal(u64), 'number', '64-bit integers decode as numbers, never BigInt');
  t.false(isWireClock({ e: [['n1', WIRE_COUNTER_MAX + 1, [], 0]], a: [] }, limits));
  t.false(isWireClock({ e: [['n1', Number.MAX_SAFE_INTEGER, [], 0]], a: [] }, limits));
  t.false(isWireClock({ e: [['n2', 1, [], 0], ['n1', 1, [], 0]], a: [] }, limits), 'unsorted ids');
  t.false(isWireClock({ e: [['n1', 1, ['text'], 0]], a: [] }, limits), 'a value that is not bytes');
  t.regex(parseReplicaOp({ op: 'replicate', p: 5, k: 'x'.repeat(2000), c: clock }, limits) as string, /key must be/);
  t.regex(parseReplicaOp({ op: 'replicate', p: 64, k: 'k', c: clock }, limits) as string, /partition/);
  t.regex(parseReplicaOp({ op: 'read', p: 1, k: 'k', d: [1, -1] }, limits) as string, /digest/);
  t.regex(parseReplicaOp({ op: 'replicate', p: 1, k: 'k', c: clock, h: ['n1', 'bad name'] }, limits) as string, /hint owners/);
  t.regex(parseReplicaOp({ op: 'drop', p: 1, k: 'k' }, limits) as string, /op must be/);
});

test('wire - a replica write may ask for a durable copy with "dur": true; any other value is malformed', (t) => {
  const clock = coordinateWrite(undefined, undefined, enc.encode('v'), 'n1', 1);
  const durable = { op: 'replicate', p: 1, k: 'k', c: clock, dur: true };
  t.deepEqual(same(parseReplicaOp(decodeInternal(encodeInternal(durable)), limits)), same(durable));
  for (const dur of [false, 1, 'true', null, [true], {}]) t.regex(parseReplicaOp({ ...durable, dur }, limits) as string, /"dur" is true or absent/, JSON.stringify(dur));
});

test('wire - replies: a malformed result fails that operation only; a short reply fails the rest', (t) => {
  const clock = coordinateWrite(undefined, undefined, enc.encode('v'), 'n1.abcdefg', 1);
  const results = parseReplicaResults(encodeInternal({ results: [{ ok: true, clock }, { ok: true, clock: { e: 'nope' } }] }), 3, limits);
  t.deepEqual(same(results[0]), same({ ok: true, clock }));
  t.false(results[1]!.ok);
  t.deepEqual(results[2], { ok: false, error: 'batch reply is missing a result' });
  t.deepEqual(parseReplicaResults(encodeInternal({ results: [{ ok: true, clock: null, same: true }] }), 1, limits), [{ ok: true, clock: null, same: true }]);
  t.throws(() => parseReplicaResults(encodeInternal({ nope: 1 }), 1, limits), { instanceOf: WireError });
});

test('wire - forwarded writes, transfers and anti-entropy messages are checked field by field', (t) => {
  const write = { op: 'coordinate', kind: 'put', req: { key: 'k', value: enc.encode('v'), context: [['n1.abc', 3]], w: 2, encoding: 'utf8' }, clientDeadlineMs: Date.now() };
  t.deepEqual(same(parseForwardedWrite(encodeInternal(write), limits)), same(write));
  t.throws(() => parseForwardedWrite(encodeInternal({ ...write, req: { ...write.req, w: 9 } }), limits), { instanceOf: WireError, message: /w must be/ });
  t.throws(() => parseForwardedWrite(encodeInternal({ ...write, kind: 'delete' }), limits), { instanceOf: WireError, message: /null for a delete/ });
  t.throws(() => parseForwardedWrite(encodeInternal({ ...write, req: { ...write.req, context: [['n1', 2 ** 60]] } }), limits), { instanceOf: WireError, message: /context/ });
  t.deepEqual(parseTransferRequest(encodeInternal({ type: 'page', p: 3, limit: 100, rv: 2, after: 'k' }), limits), { type: 'page', p: 3, limit: 100, rv: 2, after: 'k' });
  t.throws(() => parseTransferRequest(encodeInternal({ type: 'page', p: 3, limit: 0, rv: 2 }), limits), { instanceOf: WireError });
  t.deepEqual(parseTransferReply(encodeInternal({ state: 'complete' }), limits), { state: 'complete' });
  t.throws(() => parseTransferReply(encodeInternal({ entries: [['k', { e: 1 }]], done: true }), limits), { instanceOf: WireError });
  t.deepEqual(parseAeRequest(encodeInternal({ type: 'clocks', p: 1, keys: ['a', 'b'] }), limits), { type: 'clocks', p: 1, keys: ['a', 'b'] });
  t.throws(() => parseAeRequest(encodeInternal({ type: 'clocks', p: 1, keys: ['a', 5] }), limits), { instanceOf: WireError });
  t.deepEqual(parseAeReply(encodeInternal({ hashes: [[1, 2]] }), limits), { hashes: [[1, 2]] });
});

test('wire - status figures must be plain JSON naming their node', (t) => {
  t.deepEqual(parseStats(encodeInternal({ node: 'n1', figures: { a: [1, 'x', null] } })), { node: 'n1', figures: { a: [1, 'x', null] } });
  t.throws(() => parseStats(encodeInternal({ node: 'n1', when: new Date() })), { instanceOf: WireError });
  // A 64-bit integer arrives as a number, which JSON can carry (a BigInt could not).
  t.is(typeof parseStats(new Uint8Array([0x82, 0xa4, ...enc.encode('node'), 0xa2, ...enc.encode('n1'), 0xa1, 0x78, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])).x, 'number');
  t.throws(() => plainJson(JSON.parse('{"a":' + '['.repeat(20) + ']'.repeat(20) + '}')), { instanceOf: WireError });
});
