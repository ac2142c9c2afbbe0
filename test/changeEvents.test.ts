import test from 'ava';
import { changeEvent, formatChange, parseChangeEvent } from '../src/changeFeed.ts';
import { coordinateWrite } from '../src/replica.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const json = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));

test('changeEvent - the version set as the coordinator made it, expired versions left out', (t) => {
  let clock = coordinateWrite(undefined, undefined, bytes('a'), 'n1', 100);
  clock = coordinateWrite(clock, undefined, { v: bytes('b'), x: 150 }, 'n2', 100);
  t.like(changeEvent('k', clock, 120, 'utf8'), { key: 'k', values: ['a', 'b'], deleted: false });
  t.like(changeEvent('k', clock, 150, 'utf8'), { values: ['a'] });
  t.like(changeEvent('k', coordinateWrite(undefined, undefined, null, 'n1', 1), 2, 'utf8'), { values: [], deleted: true });
  t.like(changeEvent('k', clock, 120, 'base64'), { values: ['YQ==', 'Yg=='], encoding: 'base64' });
});

test('parseChangeEvent - only well-formed events', (t) => {
  const good = { key: 'k', values: ['v'], context: 'c1', deleted: false };
  t.deepEqual(parseChangeEvent(json(good)), good);
  for (const bad of [null, [], 'x', { ...good, key: 1 }, { ...good, values: [1] }, { ...good, values: 'v' }, { ...good, deleted: 'no' }, { ...good, context: null }, { ...good, encoding: 'hex' }]) t.is(parseChangeEvent(json(bad)), undefined, JSON.stringify(bad));
  t.is(parseChangeEvent(new Uint8Array([0xff, 0xfe])), undefined, 'not UTF-8');
  t.is(parseChangeEvent(new TextEncoder().encode('{')), undefined, 'not JSON');
});

test('formatChange - one line per change', (t) => {
  t.is(formatChange({ key: 'k', values: ['v'], context: 'c', deleted: false }), 'k = v');
  t.is(formatChange({ key: 'k', values: ['a', 'b'], context: 'c', deleted: false }), 'k = 2 siblings: a | b');
  t.is(formatChange({ key: 'k', values: [], context: 'c', deleted: true }), 'k deleted');
  t.is(formatChange({ key: 'a key', values: ['two\nlines'], context: 'c', deleted: false }), '"a key" = "two\\nlines"');
});
