import test from 'ava';
import fc from 'fast-check';
import { routeRead, routeWrite, type RouteContext } from '../src/replicaRoute.ts';

type Over = Partial<Omit<RouteContext, 'replicas'>> & { replicas?: readonly string[] };
const at = ({ replicas = ['n1', 'n2', 'n3'], ...over }: Over = {}): RouteContext => ({ self: 'n2', partition: 7, owns: true, stale: undefined, ...over, replicas: () => replicas });
const members = ['n1', 'n2', 'n3', 'n4'];
const up = () => true;

test('replicaRoute - a read: from this copy, else a replica under this ring for a stale sender, else the hints', (t) => {
  t.deepEqual(routeRead(at(), up), { kind: 'local' });
  t.deepEqual(routeRead(at({ owns: false, replicas: ['n1', 'n3', 'n4'], stale: 'n1' }), up), { kind: 'forward', to: 'n3' }, 'never back to the sender');
  t.deepEqual(routeRead(at({ owns: false, replicas: ['n1', 'n3', 'n4'], stale: 'n1' }), (x) => x !== 'n3'), { kind: 'forward', to: 'n4' }, 'only to a node up');
  t.deepEqual(routeRead(at({ owns: false, replicas: ['n1', 'n3', 'n4'] }), up), { kind: 'hints', owners: ['n1', 'n3', 'n4'] }, 'a current sender reads the hints kept here');
});

test('replicaRoute - a write: applied here, forwarded for a stale sender, kept as a hint, or refused with the reason', (t) => {
  t.deepEqual(routeWrite(at(), undefined, members, 4), { kind: 'apply', forwardTo: [], hintFor: [] });
  t.deepEqual(routeWrite(at({ replicas: ['n2', 'n3', 'n4'], stale: 'n1' }), undefined, members, 4), { kind: 'apply', forwardTo: ['n3', 'n4'], hintFor: [] });
  t.deepEqual(routeWrite(at({ owns: false, replicas: ['n1', 'n3', 'n4'], stale: 'n1' }), undefined, members, 4), { kind: 'forward', to: ['n3', 'n4'] });
  t.deepEqual(routeWrite(at({ owns: false, replicas: ['n1', 'n2'], stale: 'n1' }), undefined, members, 4), { kind: 'refuse', error: 'n2 holds no replica of partition 7' });
  t.deepEqual(routeWrite(at({ owns: false }), undefined, members, 4), { kind: 'refuse', error: 'n2 holds no replica of partition 7 (ring 4) and was given no owner to keep it for' });
  t.deepEqual(routeWrite(at({ owns: false }), ['n3', 'ghost', 'n2'], members, 4), { kind: 'hint', owners: ['n3'] }, 'hints only for other members');
  t.deepEqual(routeWrite(at({ stale: 'n1' }), ['n4'], members, 4), { kind: 'apply', forwardTo: [], hintFor: ['n4'] }, 'a hinted write is not forwarded');
  t.deepEqual(routeWrite(at({ owns: false }), ['ghost'], members, 4).kind, 'refuse', 'no member to keep it for');
});

test('replicaRoute - property: a write is applied exactly when held here; never sent to this node or back to the sender', (t) => {
  const node = fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5');
  let runs = 0;
  fc.assert(
    fc.property(fc.boolean(), fc.uniqueArray(node, { minLength: 1, maxLength: 3 }), fc.option(node, { nil: undefined }), fc.option(fc.array(node, { maxLength: 3 }), { nil: undefined }), (owns, replicas, stale, hintOwners) => {
      runs++;
      const c = at({ owns, replicas, stale });
      const r = routeWrite(c, hintOwners, members, 1);
      if ((r.kind === 'apply') !== owns) return false;
      const sentTo = r.kind === 'apply' ? [...r.forwardTo, ...r.hintFor] : r.kind === 'forward' ? r.to : r.kind === 'hint' ? r.owners : [];
      if (sentTo.includes('n2')) return false;
      if (r.kind === 'forward' && stale !== undefined && r.to.includes(stale)) return false;
      if (r.kind === 'hint' || (r.kind === 'apply' && r.hintFor.length > 0)) return r.kind === 'hint' ? r.owners.every((o) => members.includes(o)) : r.hintFor.every((o) => members.includes(o));
      return true;
    }),
  );
  t.is(runs, 100, 'fast-check ran its 100 cases (a counterexample throws)');
});
