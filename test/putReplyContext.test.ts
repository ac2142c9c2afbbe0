/**
 * A put's reply context (src/replica.ts putReplyContext) covers the client's own new version
 * whenever a version vector can say so without covering a version the client never saw: a
 * put -> put chain with reply contexts then supersedes its own last write instead of piling up
 * siblings. The property checks the safety side on replicas that write and sync at random.
 */
import test from 'ava';
import fc from 'fast-check';
import { coordinateWrite, mergeReplica, putReplyContext, type StoredClock } from '../src/replica.ts';
import { join, values } from '../src/dvvset.ts';
import type { VersionVector } from '../src/versionVector.ts';
import { CONTEXT_ENTRIES_MAX, CONTEXT_ID_CHARS_MAX } from '../src/context.ts';

const v = (label: string): Uint8Array => new TextEncoder().encode(label);
const labels = (clock: StoredClock): string[] => values(clock).map((x) => new TextDecoder().decode(x as Uint8Array)).sort();

test('putReplyContext - beside another writer\'s sibling, the next put with the reply supersedes the client\'s own last write', (t) => {
  const other = coordinateWrite(undefined, undefined, v('theirs'), 'n2.x', 1);
  const first = coordinateWrite(other, undefined, v('mine-1'), 'n1.x', 2);
  t.deepEqual(labels(first), ['mine-1', 'theirs']);
  const reply = putReplyContext(first, undefined, 'n1.x');
  t.deepEqual(reply, [['n1.x', 1]]);
  // Through the same node, and through another one that has synced.
  t.deepEqual(labels(coordinateWrite(first, reply, v('mine-2'), 'n1.x', 3)), ['mine-2', 'theirs']);
  t.deepEqual(labels(coordinateWrite(mergeReplica(other, first), reply, v('mine-2'), 'n3.x', 3)), ['mine-2', 'theirs']);
  // Without the actor the reply is what the client had read: its own write stays as a sibling.
  t.deepEqual(labels(coordinateWrite(first, putReplyContext(first, undefined), v('mine-2'), 'n1.x', 3)), ['mine-1', 'mine-2', 'theirs']);
});

test('putReplyContext - when the same actor holds a version the client has not read, the reply covers only what it read', (t) => {
  const unseen = coordinateWrite(undefined, undefined, v('unseen'), 'n1.x', 1);
  const mine = coordinateWrite(unseen, undefined, v('mine'), 'n1.x', 2);
  t.deepEqual(labels(mine), ['mine', 'unseen']);
  const reply = putReplyContext(mine, [], 'n1.x');
  t.deepEqual(reply, []);
  t.deepEqual(labels(coordinateWrite(mine, reply, v('next'), 'n1.x', 3)), ['mine', 'next', 'unseen']);
});

test('putReplyContext - a single version written is the whole history; past a context\'s bounds, the client\'s own context', (t) => {
  const only = coordinateWrite(undefined, undefined, v('only'), 'n1.x', 1);
  t.deepEqual(putReplyContext(only, undefined, 'n1.x'), join(only));
  const other = coordinateWrite(undefined, undefined, v('theirs'), 'n2.x', 1);
  // An actor id no context may carry (longer than CONTEXT_ID_CHARS_MAX).
  const longId = 'n'.repeat(CONTEXT_ID_CHARS_MAX + 1);
  t.deepEqual(putReplyContext(coordinateWrite(other, undefined, v('mine'), longId, 2), [], longId), []);
  // A client context already at CONTEXT_ENTRIES_MAX entries, none of them the actor's.
  const full: VersionVector = Array.from({ length: CONTEXT_ENTRIES_MAX }, (_, i) => [`m${String(i).padStart(2, '0')}`, 1] as const);
  t.deepEqual(putReplyContext(coordinateWrite(other, full, v('mine'), 'n1.x', 2), full, 'n1.x'), full);
});

type Step =
  | { kind: 'read'; client: number; replica: number }
  | { kind: 'write'; client: number; replica: number }
  | { kind: 'sync'; from: number; to: number };

const REPLICAS = 3;
const CLIENTS = 3;
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('read' as const), client: fc.nat(CLIENTS - 1), replica: fc.nat(REPLICAS - 1) }),
  fc.record({ kind: fc.constant('write' as const), client: fc.nat(CLIENTS - 1), replica: fc.nat(REPLICAS - 1) }),
  fc.record({ kind: fc.constant('sync' as const), from: fc.nat(REPLICAS - 1), to: fc.nat(REPLICAS - 1) }),
);

test('putReplyContext - property: a version vanishes from every replica only after a write by a client that had seen it', (t) => {
  t.notThrows(() => fc.assert(
    fc.property(fc.array(step, { maxLength: 60 }), (steps) => {
      const replicas: Array<StoredClock | undefined> = Array.from({ length: REPLICAS }, () => undefined);
      // Each client's context (from its last reply) and the versions it has seen: read or written.
      const clients = Array.from({ length: CLIENTS }, () => ({ context: undefined as VersionVector | undefined, seen: new Set<string>() }));
      const written: string[] = [];
      const mayVanish = new Set<string>();
      let next = 0;
      for (const s of steps) {
        if (s.kind === 'sync') {
          const from = replicas[s.from];
          if (from !== undefined) replicas[s.to] = mergeReplica(replicas[s.to], from);
        } else if (s.kind === 'read') {
          const copy = replicas[s.replica];
          const c = clients[s.client]!;
          c.context = copy ? join(copy) : [];
          c.seen = new Set(copy ? labels(copy) : []);
        } else {
          const c = clients[s.client]!;
          const label = `v${next++}`;
          const actor = `n${s.replica}.x`;
          // Whatever this client has seen, a write of its may supersede.
          for (const l of c.seen) mayVanish.add(l);
          const after = coordinateWrite(replicas[s.replica], c.context, v(label), actor, next);
          replicas[s.replica] = after;
          written.push(label);
          c.context = putReplyContext(after, c.context, actor);
          // A reply says nothing of the other versions: the client has seen only its own.
          c.seen = new Set([...c.seen, label]);
        }
        for (const label of written) {
          if (mayVanish.has(label)) continue;
          if (!replicas.some((r) => r !== undefined && labels(r).includes(label))) return false;
        }
      }
      return true;
    }),
    { numRuns: 2_000 },
  ));
});
