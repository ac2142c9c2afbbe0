import test from 'ava';
import fc from 'fast-check';
import { hintKey, parseHintKey } from '../src/hints.ts';

/** Node IDs never contain NUL and are never empty. */
const ownerArb = fc.string({ minLength: 1, maxLength: 20, unit: 'binary' }).filter((s) => !s.includes('\u0000'));
/** Keys may be anything: NUL, dots, any unicode, empty. */
const keyArb = fc.oneof(
  fc.string({ maxLength: 40, unit: 'binary' }),
  fc.string({ maxLength: 40, unit: fc.constantFrom('\u0000', '.', 'a', 'é', '🔑', '\uffff') }),
  fc.constantFrom('', '\u0000', '.', '..', 'a.b.c', '\u0000owner\u0000key', 'ключ', '🔑.🔒'),
);

test('hints - hintKey and parseHintKey roundtrip for any owner and key', (t) => {
  fc.assert(
    fc.property(ownerArb, keyArb, (owner, key) => {
      t.deepEqual(parseHintKey(hintKey(owner, key)), { owner, key });
    }),
  );
});

test('hints - one owner\'s hints share a prefix, so they sort together', (t) => {
  fc.assert(
    fc.property(ownerArb, keyArb, (owner, key) => {
      t.true(hintKey(owner, key).startsWith(`${owner}\u0000`));
    }),
  );
});

test('hints - parseHintKey throws on a stored key with no NUL or an empty owner', (t) => {
  for (const garbage of ['', 'plain-key', 'n1.key', '\u0000', '\u0000key']) {
    t.throws(() => parseHintKey(garbage), { instanceOf: RangeError }, JSON.stringify(garbage));
  }
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (s) => {
      const garbage = s.replaceAll('\u0000', '');
      t.throws(() => parseHintKey(garbage), { instanceOf: RangeError });
      t.throws(() => parseHintKey(`\u0000${s}`), { instanceOf: RangeError });
    }),
  );
});
