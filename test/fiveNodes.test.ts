import test from 'ava';
import { initialAssignment, Ring } from '../src/ring.ts';
import { TestCluster } from './harness/cluster.ts';

let cluster: TestCluster;
const members = ['n1', 'n2', 'n3', 'n4', 'n5'];
const ring = new Ring(initialAssignment(members, 64));

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 5 });
});

test.after.always(async () => {
  await cluster?.stop();
});

test.serial('five nodes - writes land on exactly the first N=3 of the preference list, forwarded when needed', async (t) => {
  const keys = Array.from({ length: 60 }, (_, i) => `spread-${i}`);
  for (const k of keys) await cluster.client.put(k, `v-${k}`, { w: 3 });
  for (const k of keys) {
    const replicas = ring.replicas(ring.partitionOf(k), 3);
    for (const id of members) {
      const peek = await cluster.client.peek(id, k);
      t.deepEqual(peek.values, replicas.includes(id) ? [`v-${k}`] : [], `${k} on ${id}`);
    }
  }
  const status = await cluster.client.status();
  const forwarded = status.members.reduce((sum: number, m: any) => sum + m.requests.forwardedWrites, 0);
  const coordinated = status.members.reduce((sum: number, m: any) => sum + m.requests.writes, 0);
  // Requests reach a random node of the queue group; 2 of 5 nodes are not replicas of a key.
  t.true(forwarded > 0, `forwarded ${forwarded}`);
  t.is(coordinated, keys.length);
});

test.serial('five nodes - interleaved read-modify-write clients keep siblings bounded by the writers', async (t) => {
  const writers = 4;
  const rounds = 15;
  const key = 'contended';
  let maxSiblings = 0;
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < rounds; i++) {
        const got = await cluster.client.get(key);
        maxSiblings = Math.max(maxSiblings, got.values.length);
        // Each writer folds the siblings it saw into its new value, as an application would.
        await cluster.client.put(key, `w${w}-r${i}`, { context: got.context });
      }
    }),
  );
  const final = await cluster.client.get(key, { r: 3 });
  maxSiblings = Math.max(maxSiblings, final.values.length);
  t.log(`max siblings seen: ${maxSiblings} with ${writers} writers x ${rounds} rounds`);
  t.true(maxSiblings <= writers, `saw ${maxSiblings} siblings`);
  t.true(final.values.length >= 1);
  // The survivors are the last writes of their writers: no older round of anyone survives.
  for (const v of final.values) t.regex(v, new RegExp(`-r${rounds - 1}$`));
});
