import test from 'ava';
import { clusterStatus, isSettled } from '../src/clusterStatus.ts';
import { DEFAULT_SETTINGS } from '../src/config.ts';
import { initialView } from '../src/membership.ts';
import { Ring } from '../src/ring.ts';

test('clusterStatus - every member with what the view says of it; transfers of the whole cluster, named by node', (t) => {
  const settings = { ...DEFAULT_SETTINGS, q: 8 };
  const view = initialView(['n1', 'n2', 'n3'], 8);
  const ring = new Ring(view.ring.assignment);
  const status = clusterStatus(settings, 'n2', view, ring, [
    { node: 'n1', state: 'up', uptimeMs: 5, transfers: [{ partition: 3, state: 'receiving', moved: 9, rebuild: true }] },
    { node: 'n2', state: 'up', transfers: [] },
    { node: 'n3', state: 'unreachable', reason: 'timeout' },
  ]) as any;
  t.is(status.answeredBy, 'n2');
  t.deepEqual(status.settings, { n: 3, r: 2, w: 2, q: 8 });
  t.deepEqual(status.members.map((m: any) => [m.node, m.state, m.status, m.inRing]), [
    ['n1', 'up', 'valid', true],
    ['n2', 'up', 'valid', true],
    ['n3', 'unreachable', 'valid', true],
  ]);
  t.is(status.members.reduce((sum: number, m: any) => sum + m.partitionsOwned, 0), 8, 'every partition owned by one member');
  t.is(status.members[0].uptimeMs, 5, 'a member\'s own figures are kept');
  t.is(status.members[2].reason, 'timeout');
  t.deepEqual(status.transfers, [{ node: 'n1', partition: 3, state: 'receiving', moved: 9, rebuild: true }]);
  t.deepEqual(status.ring.nodes, ['n1', 'n2', 'n3']);
  t.is(status.ring.owners.length, 8);
});

test('clusterStatus - settled: every member up and no partition being received', (t) => {
  const up = [{ node: 'n1', state: 'up' }, { node: 'n2', state: 'up' }];
  t.true(isSettled({ members: up, transfers: [] }));
  t.false(isSettled({ members: up, transfers: [{ node: 'n1', partition: 3, state: 'receiving' }] }));
  t.false(isSettled({ members: [...up, { node: 'n3', state: 'unreachable' }], transfers: [] }));
  t.false(isSettled({ members: up }), 'a reply without transfers says nothing of them');
  t.false(isSettled(null));
});
