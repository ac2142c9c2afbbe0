import test from 'ava';
import fc from 'fast-check';
import { encodeInternal } from '../src/codec.ts';
import { bucketOf, diffKeys, hash64, keyHash, MERKLE_LEAVES, MerkleTree, type DottedVersions, type Hash, type TreeSide } from '../src/merkle.ts';
import { partitionOf } from '../src/ring.ts';

/** A version set with one dot: enough to tell versions apart, as the vnode's clocks do. */
const version = (actor: string, counter: number): DottedVersions => ({ e: [[actor, counter, [new Uint8Array([counter])], 0]], a: [] });

function treeOf(entries: ReadonlyMap<string, DottedVersions>): MerkleTree {
  const tree = new MerkleTree();
  for (const [key, v] of entries) tree.update(bucketOf(key), keyHash(key, undefined), keyHash(key, v));
  return tree;
}

/** One side of an exchange answered from memory, counting the bytes each message would take on the wire (msgpack, as the actor sends them). */
function side(tree: MerkleTree, entries: ReadonlyMap<string, DottedVersions>, wire?: { bytes: number; messages: number }): TreeSide {
  const count = (request: unknown, reply: unknown) => {
    if (!wire) return;
    wire.bytes += encodeInternal(request).length + encodeInternal(reply).length;
    wire.messages += 2;
  };
  return {
    hashes: (level, idx) => {
      const hashes = idx.map((i) => tree.hash(level, i));
      count({ type: 'hashes', p: 0, level, idx }, { hashes });
      return hashes;
    },
    keyHashes: (buckets) => {
      const wanted = new Set(buckets);
      const keys: Array<[string, Hash]> = [...entries].filter(([k]) => wanted.has(bucketOf(k))).map(([k, v]) => [k, keyHash(k, v)]);
      count({ type: 'keys', p: 0, buckets }, { keys: keys.map(([k, h]) => [k, h[0], h[1]]) });
      return keys;
    },
  };
}

const keySet = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { maxLength: 60 });

test('merkle - property: the exchange finds exactly the keys that differ (one side only, or other versions)', async (t) => {
  await fc.assert(
    fc.asyncProperty(keySet, keySet, fc.array(fc.nat(), { maxLength: 10 }), async (left, right, bumps) => {
      const a = new Map(left.map((k) => [k, version('n1', 1)] as const));
      const b = new Map(right.map((k) => [k, version('n1', 1)] as const));
      // Some keys present on both sides get another version on one side.
      const shared = left.filter((k) => b.has(k));
      for (const i of bumps) if (shared.length > 0) b.set(shared[i % shared.length]!, version('n2', 7));
      const expected = new Set<string>();
      for (const k of new Set([...a.keys(), ...b.keys()])) {
        const x = a.get(k);
        const y = b.get(k);
        if (x === undefined || y === undefined || JSON.stringify(keyHash(k, x)) !== JSON.stringify(keyHash(k, y))) expected.add(k);
      }
      const { keys, more } = await diffKeys(side(treeOf(a), a), side(treeOf(b), b));
      t.false(more);
      t.deepEqual(keys, [...expected].sort());
      return true;
    }),
    { numRuns: 200 },
  );
});

test('merkle - property: a tree kept up to date write by write equals one rebuilt from the final data', (t) => {
  const op = fc.record({ key: fc.string({ minLength: 1, maxLength: 6 }), counter: fc.integer({ min: 0, max: 4 }) });
  fc.assert(
    fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
      const data = new Map<string, DottedVersions>();
      const incremental = new MerkleTree();
      for (const { key, counter } of ops) {
        const before = data.get(key);
        // counter 0 removes the key (a reaped tombstone); others write a version.
        const after = counter === 0 ? undefined : version('n1', counter);
        if (after === undefined) data.delete(key);
        else data.set(key, after);
        incremental.update(bucketOf(key), keyHash(key, before), keyHash(key, after));
      }
      const rebuilt = treeOf(data);
      t.deepEqual(incremental.root(), rebuilt.root());
      t.is(incremental.keys, data.size);
      for (let i = 0; i < MERKLE_LEAVES; i += 97) t.deepEqual(incremental.hash(3, i), rebuilt.hash(3, i));
      return true;
    }),
  );
});

test('merkle - the cost grows with the difference, not with the data: figures for a 100,000-key partition', async (t) => {
  const keys = 100_000;
  const a = new Map<string, DottedVersions>();
  for (let i = 0; i < keys; i++) a.set(`user:${i}`, version('n1', 1 + (i % 3)));
  const b = new Map(a);
  const treeA = treeOf(a);

  const agreeing = { bytes: 0, messages: 0 };
  const same = await diffKeys(side(treeA, a), side(treeOf(b), b, agreeing));
  t.deepEqual(same.keys, []);
  t.is(agreeing.messages, 2, 'agreeing replicas cost one root comparison');

  b.set('user:4242', version('n2', 9));
  const oneKey = { bytes: 0, messages: 0 };
  const diff = await diffKeys(side(treeA, a), side(treeOf(b), b, oneKey));
  t.deepEqual(diff.keys, ['user:4242']);
  t.true(oneKey.bytes < 8 * 1024, `${oneKey.bytes} bytes`);
  t.log(`${keys} keys per replica: agreeing replicas ${agreeing.bytes} bytes in ${agreeing.messages / 2} round trip; one differing key ${oneKey.bytes} bytes in ${oneKey.messages / 2} round trips (remote side's requests and replies, msgpack)`);
});

test('merkle - the keys of one partition spread over all buckets; a missing key hashes to nothing', (t) => {
  const seen = new Set<number>();
  let inPartition = 0;
  for (let i = 0; inPartition < 20_000; i++) {
    const key = `k${i}`;
    if (partitionOf(key, 16) !== 5) continue;
    inPartition++;
    seen.add(bucketOf(key));
  }
  t.true(seen.size > MERKLE_LEAVES * 0.95, `${seen.size} buckets used by 20,000 keys of one partition`);
  t.throws(() => new MerkleTree().hash(4, 0), { instanceOf: RangeError });
  t.deepEqual(keyHash('k', undefined), [0, 0]);
  t.notDeepEqual(hash64('ab'), hash64('ba'));
});

test('merkle - a key hash is hash64 of the key and its dots as text, so that every version of dkv agrees on it', (t) => {
  // Nodes of different versions compare these hashes (read digests, Merkle exchanges): keyHash
  // feeds the text piece by piece, and must give what hashing the whole text gives.
  const count = fc.oneof(fc.nat({ max: 12 }), fc.constantFrom(0, 9, 10, 99, 100, 2 ** 31, 2 ** 32 + 7, Number.MAX_SAFE_INTEGER));
  const versions = fc.record({
    a: fc.array(fc.constant(0), { maxLength: 3 }),
    e: fc.array(fc.tuple(fc.string({ maxLength: 20, unit: 'binary' }), count, fc.array(fc.constant(0), { maxLength: 3 }), fc.nat()), { maxLength: 4 }),
  });
  fc.assert(
    fc.property(fc.string({ maxLength: 40, unit: 'binary' }), versions, (key, v) => {
      let text = `${key}\0${v.a.length}`;
      for (const e of v.e) text += `\0${e[0]}\0${e[1]}\0${e[2].length}`;
      t.deepEqual(keyHash(key, v as DottedVersions), hash64(text));
    }),
    { numRuns: 2_000 },
  );
  // Pinned from the version before keyHash fed its text piece by piece.
  t.deepEqual(hash64('dkv'), [1663562435, 3451719489]);
  t.deepEqual(keyHash('user:1', { a: [], e: [['n1-a', 12, [1], 0]] }), [1269822338, 2825582877]);
});
