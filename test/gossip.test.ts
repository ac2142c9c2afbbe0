/**
 * Gossip convergence: a membership change made on one node (`dkv join` of a waiting node) reaches
 * every node of a five-node cluster within a bounded number of gossip rounds, measured with each
 * node's own round counter and reported.
 */
import test from 'ava';
import { TestCluster } from './harness/cluster.ts';
import { waitSettled } from './harness/membership.ts';
import { waitFor } from './harness/wait.ts';

/** Push-pull to one random peer per round spreads a change to 5 nodes in about log2(5) + a few rounds. */
const ROUNDS_MAX = 8;

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 5 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('gossip - a join made through one node reaches all six nodes within a bounded number of rounds', async (t) => {
  const before = await cluster.client.status();
  const roundsAtStart = new Map<string, number>(before.members.map((m: any) => [m.node, m.membership.rounds]));
  const versionBefore = before.ring.version;
  // A node started with neither --members nor --join waits, serving nothing, until it is joined.
  const waiting = await cluster.addNode('n6');
  t.true(waiting.logs.some((l) => l.event === 'node-started' && /waiting to be joined/.test(l.msg)));
  t.deepEqual(await cluster.client.join('n6'), { ok: true });

  const learned = await waitFor(
    'every node to know the ring with n6',
    async () => {
      const s = await cluster.client.status();
      const members = s.members.filter((m: any) => m.node !== 'n6');
      if (members.length !== 5 || !members.every((m: any) => m.state === 'up' && m.membership.ringVersion > versionBefore)) return false;
      return members.map((m: any) => ({ node: m.node, rounds: m.membership.ringChangedAtRound - roundsAtStart.get(m.node)! }));
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  const worst = Math.max(...learned.map((l: { rounds: number }) => l.rounds));
  t.log(`rounds from the join request until each node knew the new ring: ${learned.map((l: any) => `${l.node} ${l.rounds}`).join(', ')}; worst ${worst}`);
  t.true(worst <= ROUNDS_MAX, `converged in ${worst} rounds`);

  const settled = await waitSettled(cluster, ['n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
  t.true(settled.ring.nodes.includes('n6'));
  t.is(settled.members.find((m: any) => m.node === 'n6').partitionsOwned, 10, 'Q=64 over 6 nodes: 10 or 11 each, 10 for the newcomer');
});
