import test from 'ava';
import { badNodeName, leaveRefusal } from '../src/adminRules.ts';
import { initialView } from '../src/membership.ts';

test('adminRules - a node name is checked before anything is asked', (t) => {
  t.is(badNodeName('n4'), undefined);
  t.regex(badNodeName('n4.x') ?? '', /node name "n4\.x" must be 1\.\.64 characters/);
  t.regex(badNodeName('') ?? '', /must be 1\.\.64/);
});

test('adminRules - a member may leave only while N members would stay in the ring', (t) => {
  const three = initialView(['n1', 'n2', 'n3'], 8);
  t.is(leaveRefusal(three, 'n2', 3), 'n2 cannot leave: 2 nodes would remain for N=3 replicas');
  t.is(leaveRefusal(three, 'n2', 2), undefined);
  const four = initialView(['n1', 'n2', 'n3', 'n4'], 8);
  t.is(leaveRefusal(four, 'n4', 3), undefined);
  t.is(leaveRefusal(four, 'ghost', 3), undefined, 'a stranger is the membership actor\'s to refuse');
  t.is(leaveRefusal(undefined, 'n1', 3), undefined, 'no view yet: nothing to check against');
});
