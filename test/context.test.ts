import test from 'ava';
import fc from 'fast-check';
import {
  CONTEXT_CHARS_MAX,
  CONTEXT_ENTRIES_MAX,
  CONTEXT_ID_CHARS_MAX,
  ContextError,
  decodeContext,
  encodeContext,
  isContextId,
} from '../src/context.ts';
import { fromEntries, type VersionVector } from '../src/versionVector.ts';

const b64 = (x: unknown): string => 'c1' + Buffer.from(typeof x === 'string' ? x : JSON.stringify(x), 'utf8').toString('base64url');

const idArb = fc.stringMatching(/^[!#-[\]-~]{1,64}$/);
const vvArb: fc.Arbitrary<VersionVector> = fc
  .uniqueArray(fc.tuple(idArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { selector: ([id]) => id, maxLength: CONTEXT_ENTRIES_MAX })
  .map((es) => fromEntries(es));

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

test('context - the empty vector is a valid context', (t) => {
  const s = encodeContext([]);
  t.deepEqual(decodeContext(s), []);
});

test('context - the largest vector fits the length bound', (t) => {
  const vv = fromEntries(Array.from({ length: CONTEXT_ENTRIES_MAX }, (_, i) => [String(i).padStart(CONTEXT_ID_CHARS_MAX, '~'), Number.MAX_SAFE_INTEGER] as const));
  t.deepEqual(decodeContext(encodeContext(vv)), vv);
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
  ['a wrong prefix', 'c2' + b64([]).slice(2)],
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
    const err = t.throws(() => decodeContext(input), { instanceOf: ContextError });
    t.is(err?.name, 'ContextError');
    t.is(err?.code, 'bad_request');
    t.true((err?.message.length ?? 0) > 0);
  });
}

test('context - encoding refuses what it could not decode', (t) => {
  t.throws(() => encodeContext([['a b', 1]]), { instanceOf: ContextError });
  t.throws(() => encodeContext([['b', 1], ['a', 1]]), { instanceOf: ContextError });
  t.false(isContextId('node 1'));
  t.true(isContextId('node-1_a'));
});
