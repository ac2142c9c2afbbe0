import test from 'ava';
import fc from 'fast-check';
import { completed, dropped, entryOf, isPartitionTable, plan, received, type PartitionTable } from '../src/partitionTable.ts';

const none = () => [] as string[];

test('partitionTable - a new store rebuilds every partition it replicates from the others; alone, it is complete', (t) => {
  const p = plan([], [0, 3, 5], none, () => ['b', 'c'], 'rebuild');
  t.deepEqual(p.table.map((h) => [h.partition, h.state, h.rebuild]), [[0, 'receiving', true], [3, 'receiving', true], [5, 'receiving', true]]);
  t.deepEqual(entryOf(p.table, 3)?.sources, ['b', 'c']);
  t.deepEqual(p.receive, [0, 3, 5]);
  t.deepEqual(p.give, []);
  const alone = plan([], [0, 3], none, none, 'rebuild');
  t.deepEqual(alone.table.map((h) => [h.partition, h.state, h.rebuild]), [[0, 'complete', undefined], [3, 'complete', undefined]]);
  const trusted = plan([], [0, 3], none, () => ['b'], 'trust');
  t.deepEqual(trusted.table.map((h) => [h.partition, h.state]), [[0, 'complete'], [3, 'complete']], '--no-rebuild: complete, refilled by repair');
  t.deepEqual(trusted.receive, []);
});

test('partitionTable - a lost disk: what the table said was held is rebuilt, what was being given is gone', (t) => {
  let held = plan([], [1, 2, 3], none, none, 'trust').table;
  held = plan(held, [1, 2], none, () => ['x'], 'follow').table;
  held = received(plan(held, [1, 2, 4], () => ['y'], none, 'follow').table, 4, 'k9', 9);
  t.deepEqual(held.map((h) => [h.partition, h.state]), [[1, 'complete'], [2, 'complete'], [3, 'giving'], [4, 'receiving']]);
  const lost = plan(held, [1, 2, 4], none, () => ['x', 'y'], 'rebuild');
  t.deepEqual(lost.table.map((h) => [h.partition, h.state, h.cursor, h.moved, h.rebuild]), [
    [1, 'receiving', null, 0, true],
    [2, 'receiving', null, 0, true],
    [4, 'receiving', null, 0, true],
  ]);
  t.deepEqual(lost.give, []);
  t.true(isPartitionTable(JSON.parse(JSON.stringify(lost.table)), 8));
  const done = completed(lost.table, 2);
  t.is(entryOf(done, 2)?.rebuild, undefined, 'a completed partition is no longer marked');
  t.true(isPartitionTable(done, 8));
});

test('partitionTable - a joiner receives from the former replicas first, then the rest of the ring', (t) => {
  const p = plan([], [1, 2], (q) => (q === 1 ? ['a', 'b'] : ['c']), () => ['b', 'c', 'd'], 'follow');
  t.deepEqual(p.receive, [1, 2]);
  t.deepEqual(entryOf(p.table, 1)?.sources, ['a', 'b', 'c', 'd']);
  t.deepEqual(entryOf(p.table, 2)?.sources, ['c', 'b', 'd']);
  t.is(entryOf(p.table, 1)?.cursor, null);
});

test('partitionTable - partitions no longer replicated are given away; taken back, they are complete again', (t) => {
  const start = plan([], [1, 2, 3], none, none, 'rebuild').table; // N=1: complete at once
  const gave = plan(start, [1], none, () => ['x'], 'follow');
  t.deepEqual(gave.give, [2, 3]);
  t.deepEqual(gave.table.map((h) => h.state), ['complete', 'giving', 'giving']);
  const back = plan(gave.table, [1, 2], none, () => ['x'], 'follow');
  t.is(entryOf(back.table, 2)?.state, 'complete');
  t.deepEqual(back.give, [3]);
});

test('partitionTable - a transfer moves its cursor page by page, completes, and a given partition is dropped', (t) => {
  let table: PartitionTable = plan([], [4], () => ['a'], none, 'follow').table;
  table = received(table, 4, 'k10', 10);
  table = received(table, 4, 'k20', 10);
  t.like(entryOf(table, 4), { state: 'receiving', cursor: 'k20', moved: 20 });
  const again = plan(table, [4], () => ['z'], none, 'follow');
  t.like(entryOf(again.table, 4), { cursor: 'k20', sources: ['a'] }, 'a ring change keeps the progress made');
  table = completed(table, 4);
  t.like(entryOf(table, 4), { state: 'complete', cursor: null });
  t.is(completed(table, 4), table, 'completing twice changes nothing');
  t.is(dropped(table, 4), table, 'only a giving partition can be dropped');
  const giving = plan(table, [], none, none, 'follow').table;
  t.deepEqual(dropped(giving, 4), []);
});

test('partitionTable - isPartitionTable accepts what plan makes and refuses junk', (t) => {
  const table = plan([], [0, 9], () => ['a'], none, 'follow').table;
  t.true(isPartitionTable(JSON.parse(JSON.stringify(table)), 16));
  t.false(isPartitionTable(table, 8), 'partition 9 is out of range for Q=8');
  t.false(isPartitionTable([{ partition: 1, state: 'lost', sources: [], cursor: null, moved: 0 }], 8));
  t.false(isPartitionTable([table[1], table[0]], 16), 'unsorted');
  t.false(isPartitionTable({}, 16));
  t.false(isPartitionTable([{ partition: 1, state: 'complete', sources: [], cursor: null, moved: 0, rebuild: true }], 8), 'only a receiving partition rebuilds');
  t.false(isPartitionTable([{ partition: 1, state: 'receiving', sources: [], cursor: null, moved: 0, rebuild: 'yes' }], 8));
});

test('partitionTable - property: after a plan the table holds exactly what is replicated plus what is still held', (t) => {
  const parts = fc.uniqueArray(fc.integer({ min: 0, max: 31 }), { maxLength: 20 });
  fc.assert(
    fc.property(parts, parts, parts, (first, second, third) => {
      let table = plan([], first, none, none, 'trust').table;
      for (const replicas of [second, third]) {
        const before = new Set(table.map((h) => h.partition));
        const p = plan(table, replicas, () => ['a'], () => ['b'], 'follow');
        const after = new Set(p.table.map((h) => h.partition));
        t.deepEqual([...after].sort((x, y) => x - y), [...new Set([...before, ...replicas])].sort((x, y) => x - y));
        for (const h of p.table) {
          const wanted = replicas.includes(h.partition);
          if (!wanted && h.state !== 'giving') return false;
          if (wanted && h.state === 'giving') return false;
          if (h.state === 'receiving' && !before.has(h.partition) && h.cursor !== null) return false;
        }
        t.true(isPartitionTable(p.table, 32));
        table = p.table;
      }
      return true;
    }),
  );
});
