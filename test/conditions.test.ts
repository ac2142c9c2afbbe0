/**
 * The pure parts of conditional writes and expiry: the condition's decision, the request fields'
 * validation, expiring values in version sets and on the wire, and `--ttl` durations.
 */
import test from 'ava';
import { checkCondition } from '../src/conditions.ts';
import { descends } from '../src/versionVector.ts';
import { encodeContext } from '../src/context.ts';
import { parseDelete, parsePut, TTL_MS_MAX } from '../src/protocol.ts';
import { coordinateWrite, deadSinceMs, isStoredValue, isTombstoneAt, liveValuesAt, valueToStore, type StoredClock } from '../src/replica.ts';
import { encodeInternal, isWireClock, parseForwardedWrite } from '../src/wire.ts';
import { parseDurationMs } from '../src/cli/duration.ts';
import { DkvError } from '../src/errors.ts';

const limits = { n: 3, keyBytesMax: 1024, valueBytesMax: 1024 };
const wireLimits = { ...limits, q: 64 };
const body = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const codeOf = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return err instanceof DkvError ? err.code : `not a DkvError: ${err}`;
  }
  return 'accepted';
};

test('descends - every dot of the read within the context (what "current" asks)', (t) => {
  t.true(descends([], []));
  t.true(descends([['a', 2], ['b', 1]], [['a', 2]]));
  t.true(descends([['a', 3]], [['a', 2]]));
  t.false(descends([['a', 1]], [['a', 2]]));
  t.false(descends([['a', 2]], [['a', 2], ['b', 1]]));
  t.false(descends([], [['a', 1]]));
});

test('checkCondition - absent passes only when nothing live was read, and writes over what was read', (t) => {
  const tombstoneContext = [['n1', 2]] as const;
  const missing = checkCondition('absent', undefined, { found: false, values: [], context: encodeContext([...tombstoneContext]) });
  t.deepEqual(missing, { ok: true, context: [['n1', 2]] });
  const present = checkCondition('absent', undefined, { found: true, values: ['x', 'y'], context: encodeContext([['n1', 3]]) });
  t.false(present.ok);
  if (!present.ok) t.like(present.reply, { error: { code: 'conflict', message: '"if": "absent", but the key has 2 current values' } });
});

test('checkCondition - current passes only when the context covers every version read', (t) => {
  const read = { found: true, values: ['x'], context: encodeContext([['n1', 2], ['n2', 1]]) };
  t.true(checkCondition('current', [['n1', 2], ['n2', 1]], read).ok);
  const stale = checkCondition('current', [['n1', 2]], read);
  t.false(stale.ok);
  if (!stale.ok) t.is((stale.reply as any).error.code, 'conflict');
  // A key deleted since: its tombstone is a version the context must cover too.
  t.false(checkCondition('current', [['n1', 1]], { found: false, values: [], context: encodeContext([['n1', 2]]) }).ok);
});

test('checkCondition - a failed read is passed on as it is, nothing written', (t) => {
  const failed = { error: { code: 'unavailable', message: '1 of 2 replicas answered' } };
  t.deepEqual(checkCondition('absent', undefined, failed), { ok: false, reply: failed });
});

test('protocol - "if" and "ttl_ms" are validated, bad ones refused as bad_request', (t) => {
  t.like(parsePut(body({ key: 'k', value: 'v', if: 'absent', ttl_ms: 1500 }), limits), { condition: 'absent', ttlMs: 1500 });
  t.like(parseDelete(body({ key: 'k', if: 'current', context: encodeContext([['n1', 1]]) }), limits), { condition: 'current', value: null });
  t.is(parsePut(body({ key: 'k', value: 'v' }), limits).condition, undefined);
  for (const bad of ['present', 'ABSENT', 1, null, true, ['absent']]) t.is(codeOf(() => parsePut(body({ key: 'k', value: 'v', if: bad }), limits)), 'bad_request', `if ${JSON.stringify(bad)}`);
  t.is(codeOf(() => parsePut(body({ key: 'k', value: 'v', if: 'current' }), limits)), 'bad_request', 'current without a context');
  for (const bad of [-1, 0, 1.5, '30s', null, TTL_MS_MAX + 1, Number.MAX_SAFE_INTEGER + 2]) t.is(codeOf(() => parsePut(body({ key: 'k', value: 'v', ttl_ms: bad }), limits)), 'bad_request', `ttl_ms ${JSON.stringify(bad)}`);
  t.is(codeOf(() => parseDelete(body({ key: 'k', ttl_ms: 1000 }), limits)), 'bad_request', 'ttl_ms on a delete');
});

test('expiry - a version reads as live until its time, siblings expire on their own', (t) => {
  const expiring = valueToStore(bytes('short'), 1000, 5000);
  t.deepEqual(expiring, { v: bytes('short'), x: 6000 });
  t.is(valueToStore(bytes('plain'), undefined, 5000) instanceof Uint8Array, true);
  t.is(valueToStore(null, 1000, 5000), null, 'a delete has nothing to expire');
  let clock: StoredClock = coordinateWrite(undefined, undefined, expiring, 'n1', 5000);
  clock = coordinateWrite(clock, undefined, bytes('lasting'), 'n2', 5001);
  t.deepEqual(liveValuesAt(clock, 5999).map(text).sort(), ['lasting', 'short']);
  t.deepEqual(liveValuesAt(clock, 6000).map(text), ['lasting']);
  t.false(isTombstoneAt(clock, 10_000), 'one sibling is still live');
  t.is(deadSinceMs(clock, 10_000), undefined);

  const alone = coordinateWrite(undefined, undefined, expiring, 'n1', 5000);
  t.false(isTombstoneAt(alone, 5999));
  t.true(isTombstoneAt(alone, 6000), 'expired: reads and reaps like a tombstone');
  t.is(deadSinceMs(alone, 7000), 6000, "the reaper's grace runs from the expiry");
  const deleted = coordinateWrite(undefined, undefined, null, 'n1', 5000);
  t.is(deadSinceMs(deleted, 7000), 5000, "a delete's from its event");
});

test('expiry - expiring values are checked on the wire like any value', (t) => {
  t.true(isStoredValue({ v: bytes('x'), x: 1 }));
  for (const bad of [{ v: 'x', x: 1 }, { v: bytes('x'), x: -1 }, { v: bytes('x'), x: 1.5 }, { v: bytes('x') }, { v: bytes('x'), x: 1, extra: 1 }, { x: 1 }, [bytes('x'), 1]]) t.false(isStoredValue(bad), JSON.stringify(bad));
  const clock = coordinateWrite(undefined, undefined, { v: bytes('x'), x: 9 }, 'n1', 1);
  t.true(isWireClock(clock, wireLimits));
  t.false(isWireClock(coordinateWrite(undefined, undefined, { v: new Uint8Array(2000), x: 9 }, 'n1', 1), wireLimits), 'the value bound counts its bytes');

  const forwarded = (req: object, kind = 'put') => () => parseForwardedWrite(encodeInternal({ op: 'coordinate', kind, req: { key: 'k', value: kind === 'put' ? bytes('v') : null, encoding: 'utf8', ...req } }), wireLimits);
  t.is(forwarded({ ttlMs: 500 })().req.ttlMs, 500);
  for (const bad of [0, -5, 'x', TTL_MS_MAX + 1]) t.throws(forwarded({ ttlMs: bad }), undefined, `ttlMs ${JSON.stringify(bad)}`);
  t.throws(forwarded({ ttlMs: 500 }, 'delete'), undefined, 'no ttl on a delete');
});

test('--ttl durations', (t) => {
  t.is(parseDurationMs('30s'), 30_000);
  t.is(parseDurationMs('500ms'), 500);
  t.is(parseDurationMs('1.5s'), 1500);
  t.is(parseDurationMs('5m'), 300_000);
  t.is(parseDurationMs('2h'), 7_200_000);
  t.is(parseDurationMs('7d'), 604_800_000);
  t.is(parseDurationMs('250'), 250);
  for (const bad of ['', 's', '-1s', '0s', '1.5ms', '3 weeks', '1e3', 'abc']) t.throws(() => parseDurationMs(bad), { instanceOf: RangeError }, bad);
});
