import test from 'ava';
import fc from 'fast-check';
import {
  CONTEXT_CHARS_MAX,
  CONTEXT_ENTRIES_MAX,
  CONTEXT_ID_CHARS_MAX,
  ContextError,
  contextCoordinator,
  decodeContext,
  encodeContext,
  isContextId,
} from '../src/context.ts';
import { fromEntries, type VersionVector } from '../src/versionVector.ts';

const b64 = (x: unknown, prefix = 'c1'): string => prefix + Buffer.from(typeof x === 'string' ? x : JSON.stringify(x), 'utf8').toString('base64url');
const c2 = (x: unknown): string => b64(x, 'c2');

const idArb = fc.stringMatching(/^[!#-[\]-~]{1,64}$/);
const vvArb: fc.Arbitrary<VersionVector> = fc
  .uniqueArray(fc.tuple(idArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { selector: ([id]) => id, maxLength: CONTEXT_ENTRIES_MAX })
  .map((es) => fromEntries(es));
const nodeArb = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

test('context - roundtrip', (t) => {
  fc.assert(
    fc.property(vvArb, (vv) => {
      const s = encodeContext(vv);
      t.regex(s, /^c1[A-Za-z0-9_-]+$/);
      t.true(s.length <= CONTEXT_CHARS_MAX);
      t.deepEqual(decodeContext(s), vv);
    }),
  );
});

test('context - roundtrip with a coordinator', (t) => {
  fc.assert(
    fc.property(vvArb, nodeArb, (vv, node) => {
      const s = encodeContext(vv, node);
      t.regex(s, /^c2[A-Za-z0-9_-]+$/);
      t.true(s.length <= CONTEXT_CHARS_MAX);
      t.deepEqual(decodeContext(s), vv);
      t.is(contextCoordinator(s), node);
    }),
  );
});

test('context - the spelling is base64url of the JSON of the vector (and node): contexts clients hold stay valid', (t) => {
  fc.assert(
    fc.property(vvArb, fc.option(nodeArb, { nil: undefined }), (vv, node) => {
      t.is(encodeContext(vv, node), node === undefined ? b64(vv) : c2([vv, node]));
    }),
  );
});

test('context - a payload is refused as not canonical exactly when base64url would spell its bytes otherwise', (t) => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9_-]{1,40}$/), (payload) => {
      const canonical = Buffer.from(payload, 'base64url').toString('base64url') === payload;
      let message = '';
      try {
        decodeContext(`c1${payload}`);
      } catch (err) {
        message = (err as Error).message;
      }
      t.is(/not canonical/.test(message), !canonical, payload);
    }),
  );
});

test('context - a "c1" context names no coordinator and decodes as before', (t) => {
  // Spelled out: a context issued before "c2" existed must decode for ever.
  const old = 'c1' + Buffer.from('[["n1",2],["n2",1]]').toString('base64url');
  t.deepEqual(decodeContext(old), [['n1', 2], ['n2', 1]]);
  t.is(contextCoordinator(old), undefined);
  t.is(encodeContext([['n1', 2], ['n2', 1]]), old);
});

test('context - the empty vector is a valid context', (t) => {
  const s = encodeContext([]);
  t.deepEqual(decodeContext(s), []);
});

test('context - the largest vector fits the length bound', (t) => {
  const vv = fromEntries(Array.from({ length: CONTEXT_ENTRIES_MAX }, (_, i) => [String(i).padStart(CONTEXT_ID_CHARS_MAX, '~'), Number.MAX_SAFE_INTEGER] as const));
  t.deepEqual(decodeContext(encodeContext(vv)), vv);
  const named = encodeContext(vv, 'n'.repeat(64));
  t.true(named.length <= CONTEXT_CHARS_MAX);
  t.deepEqual(decodeContext(named), vv);
});

const garbage: Array<[string, unknown]> = [
  ['undefined', undefined],
  ['null', null],
  ['a number', 42],
  ['an object', { c: 1 }],
  ['an array', [['a', 1]]],
  ['the empty string', ''],
  ['no prefix', 'xyz'],
  ['only the prefix', 'c1'],
  ['a wrong prefix', 'c3' + b64([]).slice(2)],
  ['a "c2" holding a bare vector', c2([['a', 1]])],
  ['a "c2" holding the empty array', c2([])],
  ['a "c2" with three elements', c2([[], 'n1', 'n2'])],
  ['a "c2" with a null node', c2([[], null])],
  ['a "c2" with a numeric node', c2([[], 1])],
  ['a "c2" with an empty node', c2([[], ''])],
  ['a "c2" with a node that is not a name', c2([[], 'n1.>'])],
  ['a "c2" with a long node', c2([[], 'n'.repeat(65)])],
  ['a "c2" with a bad vector', c2([[['b', 1], ['a', 1]], 'n1'])],
  ['a "c2" that is not JSON', c2('[[],"n1"')],
  ['only the "c2" prefix', 'c2'],
  ['a bare base64 vector', Buffer.from('[]').toString('base64url')],
  ['padding', b64([]) + '='],
  ['standard base64 characters', 'c1W10+/'],
  ['a space', 'c1W1 0'],
  ['an impossible base64 length', 'c1W10AB'],
  ['non-canonical trailing bits', 'c1W11'],
  ['invalid UTF-8', 'c1' + Buffer.from([0xff, 0xfe]).toString('base64url')],
  ['not JSON', b64('[[')],
  ['a JSON object', b64({ a: 1 })],
  ['a JSON string', b64('"c1W10"')],
  ['a JSON number', b64('1')],
  ['JSON null', b64('null')],
  ['an entry that is not a pair', b64([['a', 1, 2]])],
  ['an entry that is an object', b64([{ id: 'a', n: 1 }])],
  ['a negative counter', b64([['a', -1]])],
  ['a zero counter', b64([['a', 0]])],
  ['a fractional counter', b64([['a', 1.5]])],
  ['an unsafe counter', b64('[["a",9007199254740993]]')],
  ['a string counter', b64([['a', '1']])],
  ['a numeric id', b64([[1, 1]])],
  ['an empty id', b64([['', 1]])],
  ['an id with a space', b64([['a b', 1]])],
  ['an id with a quote', b64([['a"', 1]])],
  ['a non-ASCII id', b64([['é', 1]])],
  ['a long id', b64([['a'.repeat(CONTEXT_ID_CHARS_MAX + 1), 1]])],
  ['duplicate ids', b64([['a', 1], ['a', 2]])],
  ['unsorted ids', b64([['b', 1], ['a', 1]])],
  ['too many entries', b64(Array.from({ length: CONTEXT_ENTRIES_MAX + 1 }, (_, i) => [`n${String(i).padStart(3, '0')}`, 1]))],
  ['a huge string', 'c1' + 'A'.repeat(CONTEXT_CHARS_MAX)],
  ['a huge non-context string', 'x'.repeat(10_000_000)],
];

for (const [name, input] of garbage) {
  test(`context - rejects ${name}`, (t) => {
    // A damaged or forged context names no coordinator: it is simply no hint.
    t.is(contextCoordinator(input), undefined);
    const err = t.throws(() => decodeContext(input), { instanceOf: ContextError });
    t.is(err?.name, 'ContextError');
    t.is(err?.code, 'bad_request');
    t.true((err?.message.length ?? 0) > 0);
  });
}

test('context - encoding refuses what it could not decode', (t) => {
  t.throws(() => encodeContext([['a b', 1]]), { instanceOf: ContextError });
  t.throws(() => encodeContext([['b', 1], ['a', 1]]), { instanceOf: ContextError });
  t.throws(() => encodeContext([], 'n1.>'), { instanceOf: ContextError });
  t.throws(() => encodeContext([], ''), { instanceOf: ContextError });
  t.false(isContextId('node 1'));
  t.true(isContextId('node-1_a'));
});

test('context - contextCoordinator never throws, whatever it is given', (t) => {
  fc.assert(
    fc.property(fc.oneof(fc.anything(), fc.string().map((x) => 'c2' + x), fc.string().map((x) => c2(x)), fc.tuple(fc.anything(), fc.anything()).map((x) => c2(x))), (x) => {
      const node = contextCoordinator(x);
      t.true(node === undefined || /^[A-Za-z0-9_-]{1,64}$/.test(node));
    }),
  );
});
