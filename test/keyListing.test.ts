/**
 * Key listing without processes: the comparator, the live predicate, merging pages, the covering
 * plan, the request checks, one node's paced scan over a memory store, and the coordinator's
 * fallback to another replica (peers reached through a stand-in transport).
 */
import test from 'ava';
import pino from 'pino';
import { keyListing } from '../actors/keyListing.ts';
import { keyScan, SCAN_ENTRIES_PER_REQUEST_MAX, type KeyScan } from '../actors/keyScan.ts';
import type { Outbox } from '../actors/outbox.ts';
import type { Transport, TransportMsg } from '../actors/transport.ts';
import { systemClock } from '../actors/clock.ts';
import { compareCodePoints, coveringPlan, isListed, mergePages, type KeysPage } from '../src/keyListing.ts';
import { parseKeys, parseNodeKeysReply, parseNodeKeysRequest } from '../src/keysProtocol.ts';
import { DkvError } from '../src/errors.ts';
import { plan } from '../src/partitionTable.ts';
import type { StoredClock } from '../src/replica.ts';
import { initialAssignment, Ring } from '../src/ring.ts';
import { subjectsFor } from '../src/subjects.ts';
import { MemoryStorage } from '../src/storage/memory.ts';
import { encodeInternal } from '../src/wire.ts';

const limits = { n: 3, keyBytesMax: 1024, valueBytesMax: 1024 * 1024 };
const wireLimits = { q: 8, keyBytesMax: 1024, valueBytesMax: 1024 * 1024 };
const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
const live = (v = 'v'): StoredClock => ({ e: [['a', 1, [new TextEncoder().encode(v)], 1]], a: [] });
const tombstone = (): StoredClock => ({ e: [['a', 2, [null], 1]], a: [] });

test('keys - code point order, not UTF-16 order: an astral key sorts after U+FFFD', (t) => {
  const keys = ['b', '\u{1F600}', '\uFFFD', 'a.b', 'a b', 'a*', 'a>', 'é'];
  const sorted = [...keys].sort(compareCodePoints);
  t.deepEqual(sorted, ['a b', 'a*', 'a.b', 'a>', 'b', 'é', '\uFFFD', '\u{1F600}']);
  // The same as UTF-8 byte order.
  t.deepEqual(sorted, [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y))));
  t.true('\u{1F600}' < '\uFFFD', 'plain < would get it wrong');
});

test('keys - live: some version is not a delete', (t) => {
  t.true(isListed(live(), 0));
  t.false(isListed(tombstone(), 0));
  t.true(isListed({ e: [['a', 2, [null], 1], ['b', 1, [new Uint8Array(1)], 1]], a: [] }, 0), 'a sibling of a delete is live');
  t.true(isListed({ e: [['a', 2, [null], 1]], a: [new Uint8Array(0)] }, 0), 'an empty value is a value');
  const expiring = { e: [['a', 1, [{ v: new Uint8Array(1), x: 500 }], 1]], a: [] } as StoredClock;
  t.true(isListed(expiring, 499), 'listed until it expires');
  t.false(isListed(expiring, 500), 'not once expired');
});

test('keys - merge: complete up to the smallest next, cut at the limit', (t) => {
  const a: KeysPage = { keys: ['a', 'd', 'g'], next: null };
  const b: KeysPage = { keys: ['b', 'e'], next: 'e' };
  const c: KeysPage = { keys: ['c', 'f'], next: null };
  t.deepEqual(mergePages([a, b, c], 10), { keys: ['a', 'b', 'c', 'd', 'e'], next: 'e' });
  t.deepEqual(mergePages([a, b, c], 3), { keys: ['a', 'b', 'c'], next: 'c' });
  t.deepEqual(mergePages([a, c], 10), { keys: ['a', 'c', 'd', 'f', 'g'], next: null });
  t.deepEqual(mergePages([a, c], 5), { keys: ['a', 'c', 'd', 'f', 'g'], next: null }, 'exactly the limit, nothing more: done');
  t.deepEqual(mergePages([{ keys: [], next: 'm' }, a], 10), { keys: ['a', 'd', 'g'], next: 'm' }, 'a budget-cut page holds the rest back');
  t.deepEqual(mergePages([{ keys: [], next: 'b' }, a], 10), { keys: ['a'], next: 'b' });
  t.deepEqual(mergePages([], 10), { keys: [], next: null });
  const astral: KeysPage = { keys: ['\uFFFD', '\u{1F600}'], next: null };
  t.deepEqual(mergePages([astral, { keys: ['z'], next: null }], 10).keys, ['z', '\uFFFD', '\u{1F600}']);
  // The byte bound cuts like the limit does.
  const big = { keys: ['x'.repeat(600), 'y'.repeat(600)], next: null };
  t.deepEqual(mergePages([big], 10, 1000), { keys: ['x'.repeat(600)], next: 'x'.repeat(600) });
});

test('keys - covering plan: every partition once, this node first, other live owners spread, the tried ones skipped', (t) => {
  const ring = new Ring(initialAssignment(['n1', 'n2', 'n3', 'n4'], 16));
  const all = Array.from({ length: 16 }, (_, p) => p);
  const up = (node: string) => node !== 'n4';
  const { byNode, uncovered } = coveringPlan(ring, 3, 'n1', up, all, () => false);
  t.deepEqual(uncovered, []);
  const covered = [...byNode.values()].flat().sort((x, y) => x - y);
  t.deepEqual(covered, all);
  t.false(byNode.has('n4'));
  for (const [node, ps] of byNode) for (const p of ps) t.true(ring.replicas(p, 3).includes(node));
  for (const p of all) if (ring.replicas(p, 3).includes('n1')) t.true(byNode.get('n1')!.includes(p));
  // With every owner of a partition tried, it is uncovered.
  const p0 = ring.replicas(0, 3);
  const again = coveringPlan(ring, 3, 'n1', () => true, [0], (_p, node) => p0.includes(node));
  t.deepEqual(again.uncovered, [0]);
});

test('keys - public request checks', (t) => {
  t.deepEqual(parseKeys(enc({}), limits), { prefix: '', limit: 1000 });
  t.deepEqual(parseKeys(new Uint8Array(0), limits), { prefix: '', limit: 1000 });
  t.deepEqual(parseKeys(enc({ prefix: 'a.', after: 'a.b', limit: 5, other: 1 }), limits), { prefix: 'a.', after: 'a.b', limit: 5 });
  for (const body of [{ limit: 1001 }, { limit: 0 }, { limit: 1.5 }, { limit: '5' }, { prefix: 3 }, { after: null }, { after: '' }, { prefix: 'x'.repeat(1025) }, { after: 'é'.repeat(513) }, { prefix: '\uD800' }, [1]]) {
    const err = t.throws(() => parseKeys(enc(body), limits), undefined, JSON.stringify(body));
    t.is((err as DkvError).code, 'bad_request', JSON.stringify(body));
  }
});

test('keys - internal request and reply checks', (t) => {
  t.deepEqual(parseNodeKeysRequest(encodeInternal({ prefix: '', limit: 3, ps: [1, 2] }), wireLimits), { prefix: '', limit: 3, ps: [1, 2] });
  for (const bad of [{ prefix: '', limit: 3, ps: [8] }, { prefix: '', limit: 3, ps: [1, 1] }, { prefix: '', limit: 3, ps: [] }, { prefix: 1, limit: 3, ps: [1] }, { prefix: '', limit: 1001, ps: [1] }, { prefix: '', limit: 3, ps: [1], after: '' }, 'x']) {
    t.throws(() => parseNodeKeysRequest(encodeInternal(bad), wireLimits), undefined, JSON.stringify(bad));
  }
  const req = { prefix: 'a', after: 'ab', limit: 3, ps: [1, 2] };
  t.deepEqual(parseNodeKeysReply(encodeInternal({ keys: ['ac', 'ad'], next: 'ae', refused: [2] }), req, wireLimits), { keys: ['ac', 'ad'], next: 'ae', refused: [2] });
  for (const bad of [
    { keys: ['ad', 'ac'], next: null, refused: [] },
    { keys: ['ab'], next: null, refused: [] },
    { keys: ['b'], next: null, refused: [] },
    { keys: ['ac', 'ad', 'ae', 'af'], next: null, refused: [] },
    { keys: [], next: 'ab', refused: [] },
    { keys: ['ac'], next: null, refused: [5] },
    { error: 'overloaded' },
  ]) {
    t.throws(() => parseNodeKeysReply(encodeInternal(bad), req, wireLimits), undefined, JSON.stringify(bad));
  }
});

/** A memory store with keys spread over q partitions by the ring, tombstones for `deleted`. */
function storeOf(ring: Ring, keys: readonly string[], deleted: ReadonlySet<string> = new Set()): MemoryStorage<StoredClock> {
  const s = new MemoryStorage<StoredClock>();
  for (const k of keys) void s.put(ring.partitionOf(k), k, deleted.has(k) ? tombstone() : live());
  return s;
}

const completeTable = (q: number) => plan([], Array.from({ length: q }, (_, p) => p), () => [], () => [], 'trust').table;

async function listAll(scanner: KeyScan, ring: Ring, req: { prefix?: string; limit: number }): Promise<{ keys: string[]; pages: number }> {
  const keys: string[] = [];
  let after: string | undefined;
  let pages = 0;
  for (;;) {
    pages++;
    const page = await scanner.scan({ prefix: req.prefix ?? '', limit: req.limit, ps: Array.from({ length: ring.q }, (_, p) => p), ...(after !== undefined ? { after } : {}) });
    keys.push(...page.keys);
    if (page.next === null) return { keys, pages };
    after = page.next;
  }
}

test('keys - one node scan: live keys in order, prefix and after, tombstones left out, a budget that runs out still gets through', async (t) => {
  const ring = new Ring(initialAssignment(['n1'], 8));
  const keys = Array.from({ length: 3000 }, (_, i) => `k.${String(i).padStart(5, '0')}`).concat(['a', 'a b', 'a*', 'a>', '\u{1F600}', '\uFFFD', 'k.']);
  const deleted = new Set(keys.filter((_, i) => i % 10 === 3));
  const scanner = keyScan({ id: 'n1', storage: storeOf(ring, keys, deleted), table: () => completeTable(8), now: () => 0 });
  const expected = keys.filter((k) => !deleted.has(k)).sort(compareCodePoints);
  const all = await listAll(scanner, ring, { limit: 1000 });
  t.deepEqual(all.keys, expected);
  t.is(all.pages, Math.ceil(expected.length / 1000));
  t.deepEqual((await listAll(scanner, ring, { prefix: 'k.', limit: 7 })).keys, expected.filter((k) => k.startsWith('k.')));
  t.deepEqual((await listAll(scanner, ring, { prefix: 'a', limit: 2 })).keys, ['a', 'a b', 'a*', 'a>'].filter((k) => !deleted.has(k)));
  t.deepEqual((await listAll(scanner, ring, { prefix: 'zz', limit: 2 })).keys, []);
  const page = await scanner.scan({ prefix: '', after: 'k.00010', limit: 2, ps: [0, 1, 2, 3, 4, 5, 6, 7] });
  t.deepEqual(page.keys, expected.filter((k) => compareCodePoints(k, 'k.00010') > 0).slice(0, 2));
  // Merged as read: a page of 100 reads far fewer than 100 of each of the 8 partitions.
  const readBefore = scanner.figures.entriesScanned;
  t.is((await scanner.scan({ prefix: '', limit: 100, ps: [0, 1, 2, 3, 4, 5, 6, 7] })).keys.length, 100);
  const read = scanner.figures.entriesScanned - readBefore;
  t.true(read < 8 * 100 / 2, `${read} entries read for a page of 100`);

  // Tombstones past the budget: a prefix matching only deleted keys takes several pages of none.
  const many = Array.from({ length: SCAN_ENTRIES_PER_REQUEST_MAX + 5000 }, (_, i) => `gone.${i}`);
  const ghostly = keyScan({ id: 'n1', storage: storeOf(ring, [...many, 'gone.~live'], new Set(many)), table: () => completeTable(8), now: () => 0 });
  const ghosts = await listAll(ghostly, ring, { prefix: 'gone.', limit: 10 });
  t.deepEqual(ghosts.keys, ['gone.~live']);
  t.true(ghosts.pages >= 2, `${ghosts.pages} pages`);
});

test('keys - a partition held incomplete is refused, not listed short', async (t) => {
  const ring = new Ring(initialAssignment(['n1'], 8));
  const table = plan([], [0, 1, 2, 3, 4, 5, 6, 7], () => [], () => ['n2'], 'rebuild').table;
  const scanner = keyScan({ id: 'n1', storage: storeOf(ring, ['a']), table: () => table, now: () => 0 });
  const reply = await scanner.scan({ prefix: '', limit: 10, ps: [0, 1] });
  t.deepEqual(reply.refused, [0, 1]);
  t.deepEqual(reply.keys, []);
});

/** Coordinator n1 over three stand-in nodes; `silent` nodes never answer (a timeout). */
function coordinator(ring: Ring, keys: readonly string[], silent: ReadonlySet<string>) {
  const scanners = new Map(['n1', 'n2', 'n3', 'n4'].map((id) => [id, keyScan({ id, storage: storeOf(ring, keys), table: () => completeTable(ring.q), now: () => 0 })]));
  const nc = {
    request: async (subject: string, data: Uint8Array) => {
      const node = subject.split('.')[3]!;
      if (silent.has(node)) throw new Error('TIMEOUT');
      const reply = await scanners.get(node)!.scan(parseNodeKeysRequest(data, { ...wireLimits, q: ring.q }));
      return { data: encodeInternal(reply) } as TransportMsg;
    },
  } as unknown as Transport;
  const outbox = { respond: (msg: TransportMsg, data: Uint8Array) => msg.respond(data) } as unknown as Outbox;
  return keyListing({ id: 'n1', n: 3, clock: systemClock, limits, wireLimits: { ...wireLimits, q: ring.q }, subjects: subjectsFor('local'), nc, outbox, scanner: scanners.get('n1')!, log: pino({ level: 'silent' }), ring: () => ring, isUp: () => true });
}

function ask(listing: ReturnType<typeof keyListing>, body: object): Promise<any> {
  return new Promise((resolve) => listing.handle({ subject: 'dkv.local.keys', data: enc(body), respond: (d?: Uint8Array) => (resolve(JSON.parse(new TextDecoder().decode(d))), true) } as TransportMsg));
}

test('keys - coordinator: a replica that does not answer has its partitions asked of another; none left is unavailable, with a count', async (t) => {
  // Each node a replica store holding every key: the test is about who is asked.
  const ring = new Ring(initialAssignment(['n1', 'n2', 'n3', 'n4'], 16));
  const keys = Array.from({ length: 500 }, (_, i) => `key ${i}`);
  const expected = [...keys].sort(compareCodePoints);
  const listing = coordinator(ring, keys, new Set(['n2']));
  const listed: string[] = [];
  let after: string | undefined;
  for (;;) {
    const page = await ask(listing, { limit: 100, ...(after !== undefined ? { after } : {}) });
    t.falsy(page.error, JSON.stringify(page.error));
    listed.push(...page.keys);
    if (page.next === null) break;
    after = page.next;
  }
  t.deepEqual(listed, expected);
  t.true(listing.figures.fallbacks > 0);

  const starved = coordinator(ring, keys, new Set(['n2', 'n3', 'n4']));
  const reply = await ask(starved, {});
  t.is(reply.error.code, 'unavailable');
  const expectedUncovered = Array.from({ length: 16 }, (_, p) => p).filter((p) => !ring.replicas(p, 3).includes('n1')).length;
  t.true(expectedUncovered > 0);
  t.regex(reply.error.message, new RegExp(`^${expectedUncovered} of 16 partitions could not be covered`));
  t.is((await ask(listing, { limit: 1001 })).error.code, 'bad_request');
});
