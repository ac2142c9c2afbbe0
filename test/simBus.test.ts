/**
 * The simulation's building blocks (test/sim/): the seeded PRNG, the virtual clock, and the
 * in-memory NATS bus, checked against the NATS behaviour the actors rely on, plus replay: one
 * seed, one trace hash.
 */
import test from 'ava';
import { isNoResponders } from '../src/errors.ts';
import type { TransportMsg } from '../actors/transport.ts';
import { VirtualClock } from './sim/clock.ts';
import { Random } from './sim/random.ts';
import { Simulation } from './sim/scheduler.ts';
import { badPublishSubject, badSubscribeSubject, subjectMatches } from './sim/subjects.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

test('random - a seed gives one stream, forks are independent of use, and bounds hold', (t) => {
  const a = new Random(42);
  const b = new Random(42);
  const xs = Array.from({ length: 100 }, () => a.next());
  t.deepEqual(xs, Array.from({ length: 100 }, () => b.next()));
  t.true(xs.every((x) => x >= 0 && x < 1));
  const other = new Random(43);
  t.notDeepEqual(xs, Array.from({ length: 100 }, () => other.next()));
  const fresh = new Random(42).fork('bus').next();
  t.is(a.fork('bus').next(), fresh, 'a fork does not depend on how much the parent was used');
  t.not(a.fork('net').next(), fresh);
  const r = new Random(7);
  const counts = [0, 0, 0, 0, 0];
  for (let i = 0; i < 10_000; i++) counts[r.int(5)]!++;
  t.true(counts.every((c) => c > 1800 && c < 2200), `int(5) roughly uniform: ${counts}`);
  t.is(r.pick(['only']), 'only');
  t.throws(() => r.pick([]));
  t.throws(() => r.int(0));
});

test('clock - setInterval fires at its virtual times, clearInterval stops it, ties run in the order set', (t) => {
  const clock = new VirtualClock(1000);
  const fired: Array<[string, number]> = [];
  const every = clock.setInterval(() => fired.push(['i', clock.now()]), 100);
  clock.setTimeout(() => fired.push(['t', clock.now()]), 200);
  t.is(clock.pending(), 2);
  t.is(clock.nextDueMs(), 1100);
  t.true(clock.fireNext());
  t.true(clock.fireNext());
  t.true(clock.fireNext());
  t.deepEqual(fired, [['i', 1100], ['t', 1200], ['i', 1200]], 'at 1200 the timeout, set first, runs before the interval re-armed at 1100');
  t.true(clock.fireNext());
  t.deepEqual(fired.at(-1), ['i', 1300]);
  t.is(clock.pending(), 1);
  clock.clearInterval(every);
  t.is(clock.pending(), 0);
  t.false(clock.fireNext());
  t.is(clock.now(), 1300);
  t.is(clock.monotonicMs(), 300);
  t.is(clock.nextDueMs(), undefined);
  t.is(typeof clock.setTimeout(() => {}, 5).unref, 'function');
});

test('clock - a throwing timer is reported and the loop goes on; an interval may clear itself', (t) => {
  const errors: unknown[] = [];
  const clock = new VirtualClock(0, { onTimerError: (err) => errors.push(err) });
  clock.setTimeout(() => { throw new Error('boom'); }, 10);
  let runs = 0;
  const self = clock.setInterval(() => { if (++runs === 2) clock.clearInterval(self); }, 5);
  while (clock.fireNext()) { /* until empty */ }
  t.is(runs, 2);
  t.is(errors.length, 1);
  t.regex((errors[0] as Error).message, /boom/);
  t.is(clock.now(), 10);
  clock.setTimeout(() => {}, 0);
  t.is(clock.nextDueMs(), 11, 'a delay below 1 ms is 1 ms, as in Node');
});

test('subjects - tokens and wildcards', (t) => {
  t.true(subjectMatches('a.b', 'a.b'));
  t.false(subjectMatches('a.b', 'a.b.c'));
  t.true(subjectMatches('a.*', 'a.b'));
  t.false(subjectMatches('a.*', 'a'));
  t.false(subjectMatches('a.*', 'a.b.c'));
  t.true(subjectMatches('a.>', 'a.b.c'));
  t.false(subjectMatches('a.>', 'a'));
  t.true(subjectMatches('>', 'x'));
  t.true(subjectMatches('*.b.*', 'a.b.c'));
  t.false(subjectMatches('*.b.*', 'a.x.c'));
  t.truthy(badPublishSubject('a.*'));
  t.truthy(badPublishSubject('a..b'));
  t.truthy(badSubscribeSubject('a.>.b'));
  t.is(badSubscribeSubject('a.*.>'), undefined);
});

test('bus - wildcard subscribers each receive what matches', async (t) => {
  const sim = new Simulation({ seed: 1, faults: { latencyMinMs: 1, latencyMaxMs: 1 } });
  const pub = sim.bus.connect('pub');
  const sub = sim.bus.connect('sub');
  const got: Record<string, string[]> = {};
  for (const p of ['a.*', 'a.>', 'a.b', '>', '*.b.c']) {
    got[p] = [];
    sub.subscribe(p, { callback: (err, m) => { t.is(err, null); got[p]!.push(m.subject); } });
  }
  for (const s of ['a.b', 'a.b.c', 'a', 'x.b.c']) pub.publish(s, enc(s));
  await sim.runUntil(() => sim.bus.pending() === 0, 100);
  t.deepEqual(got, {
    'a.*': ['a.b'],
    'a.>': ['a.b', 'a.b.c'],
    'a.b': ['a.b'],
    '>': ['a.b', 'a.b.c', 'a', 'x.b.c'],
    '*.b.c': ['a.b.c', 'x.b.c'],
  });
  t.throws(() => pub.publish('a.*'), { message: /wildcard/ });
  t.deepEqual(sim.errors, []);
});

test('bus - a queue group gives each message to exactly one member, and each member some', async (t) => {
  const sim = new Simulation({ seed: 2 });
  const receivedBy = new Map<number, string[]>();
  let plain = 0;
  for (const name of ['q1', 'q2', 'q3']) {
    sim.bus.connect(name).subscribe('work.*', { queue: 'workers', callback: (_e, m) => {
      const n = Number(dec(m.data));
      receivedBy.set(n, [...(receivedBy.get(n) ?? []), name]);
    } });
  }
  sim.bus.connect('watcher').subscribe('work.*', { callback: () => { plain++; } });
  const pub = sim.bus.connect('pub');
  const MESSAGES = 1000;
  for (let i = 0; i < MESSAGES; i++) pub.publish(`work.${i % 7}`, enc(String(i)));
  await sim.runUntil(() => sim.bus.pending() === 0, 10 * MESSAGES);
  t.is(plain, MESSAGES, 'a plain subscriber beside the group sees every message');
  t.is(receivedBy.size, MESSAGES);
  t.true([...receivedBy.values()].every((names) => names.length === 1), 'each message exactly one receiver');
  const perMember = new Map<string, number>();
  for (const [name] of receivedBy.values()) perMember.set(name!, (perMember.get(name!) ?? 0) + 1);
  t.is(perMember.size, 3);
  t.true([...perMember.values()].every((c) => c > 250), `spread: ${[...perMember.entries()]}`);
});

test('bus - request/reply resolves with the first reply, after two latencies of virtual time', async (t) => {
  const sim = new Simulation({ seed: 3, faults: { latencyMinMs: 5, latencyMaxMs: 5 } });
  const server = sim.bus.connect('server');
  const client = sim.bus.connect('client');
  server.subscribe('echo', { callback: (_e, m) => { t.true(m.respond(enc(`re: ${dec(m.data)}`))); } });
  const started = sim.clock.now();
  let reply: TransportMsg | undefined;
  void client.request('echo', enc('hi'), { timeout: 1000 }).then((m) => { reply = m; });
  await sim.runUntil(() => reply !== undefined, 100);
  t.is(dec(reply!.data), 're: hi');
  t.is(sim.clock.now() - started, 10);
  t.is(sim.clock.pending(), 0, 'the request timer is cleared once answered');
  // A message without a reply subject cannot be answered.
  let respondResult: boolean | undefined;
  server.subscribe('oneway', { callback: (_e, m) => { respondResult = m.respond(enc('x')); } });
  client.publish('oneway', enc('x'));
  await sim.runUntil(() => respondResult !== undefined, 100);
  t.false(respondResult);
  t.is(client.info?.max_payload, 1024 * 1024);
  await client.flush();
});

test('bus - no responders: request rejects at once (as an event), publish with reply gets a 503 status', async (t) => {
  const sim = new Simulation({ seed: 4, faults: { latencyMinMs: 2, latencyMaxMs: 2 } });
  const client = sim.bus.connect('client');
  let error: Error | undefined;
  void client.request('nobody.home', enc('?'), { timeout: 5000 }).catch((e: Error) => { error = e; });
  await sim.settle();
  t.is(error, undefined, 'not rejected synchronously');
  const started = sim.clock.now();
  await sim.runUntil(() => error !== undefined, 10);
  t.regex(error!.message, /no responders/i);
  t.true(isNoResponders(error));
  t.is(sim.clock.now() - started, 2, 'well before the timeout');

  const statuses: TransportMsg[] = [];
  client.subscribe('inbox.*', { callback: (_e, m) => statuses.push(m) });
  client.publish('nobody.home', enc('batch'), { reply: 'inbox.7' });
  await sim.runUntil(() => statuses.length === 1, 10);
  t.is(statuses[0]!.subject, 'inbox.7');
  t.is(statuses[0]!.headers?.code, 503);
  t.is(statuses[0]!.data.length, 0);
  t.is(sim.bus.stats.noResponders, 2);
});

test('bus - a request times out after exactly its timeout in virtual time, in little real time', async (t) => {
  const sim = new Simulation({ seed: 5 });
  sim.bus.connect('sink').subscribe('slow', { callback: () => { /* never answers */ } });
  const client = sim.bus.connect('client');
  const TIMEOUT_MS = 30_000;
  const realStart = performance.now();
  const started = sim.clock.now();
  let error: Error | undefined;
  void client.request('slow', enc('?'), { timeout: TIMEOUT_MS }).catch((e: Error) => { error = e; });
  await sim.runUntil(() => error !== undefined, 10);
  t.is(error!.message, 'timeout');
  t.is(sim.clock.now() - started, TIMEOUT_MS);
  t.true(performance.now() - realStart < 2000, 'virtual time, not real');
});

test('bus - a dropped reply is how a request times out', async (t) => {
  const sim = new Simulation({ seed: 6 });
  const server = sim.bus.connect('server');
  server.subscribe('svc', { callback: (_e, m) => { sim.bus.setFaults({ dropP: 1 }); m.respond(enc('lost')); } });
  let error: Error | undefined;
  void sim.bus.connect('client').request('svc', enc('?'), { timeout: 100 }).catch((e: Error) => { error = e; });
  await sim.runUntil(() => error !== undefined, 10);
  t.is(error!.message, 'timeout');
  t.is(sim.bus.stats.dropped, 1);
});

test('bus - a partition hides each side from the other until healed', async (t) => {
  const sim = new Simulation({ seed: 7 });
  const a = sim.bus.connect('a');
  const b = sim.bus.connect('b');
  const c = sim.bus.connect('c');
  const atB: string[] = [];
  b.subscribe('svc', { callback: (_e, m) => { atB.push(dec(m.data)); m.respond(enc('ok')); } });
  sim.bus.partition([['a'], ['b', 'c']]);
  t.false(sim.bus.canSee('a', 'b'));
  t.true(sim.bus.canSee('b', 'c'));
  a.publish('svc', enc('from a'));
  const fromA = a.request('svc', enc('req a')).catch((e: Error) => e.message);
  const fromC = c.request('svc', enc('req c')).then((m) => dec(m.data));
  await sim.runUntil(() => sim.bus.pending() === 0 && sim.clock.pending() === 0, 100);
  t.is(await fromA, 'no responders', 'a sees nobody serving svc');
  t.is(await fromC, 'ok');
  t.deepEqual(atB, ['req c']);
  sim.bus.heal();
  const healed = a.request('svc', enc('req a again')).then((m) => dec(m.data));
  await sim.runUntil(() => sim.bus.pending() === 0 && sim.clock.pending() === 0, 100);
  t.is(await healed, 'ok');
  t.deepEqual(atB, ['req c', 'req a again']);
});

test('bus - queue-group choice and 503 are per side of a partition', async (t) => {
  const sim = new Simulation({ seed: 8 });
  const got: string[] = [];
  for (const name of ['m1', 'm2']) sim.bus.connect(name).subscribe('q', { queue: 'g', callback: () => got.push(name) });
  const p1 = sim.bus.connect('p1');
  sim.bus.partition([['p1', 'm1'], ['m2']]);
  for (let i = 0; i < 50; i++) p1.publish('q', enc('x'));
  await sim.runUntil(() => sim.bus.pending() === 0, 200);
  t.is(got.length, 50);
  t.true(got.every((n) => n === 'm1'), 'only the visible member is chosen');
  t.is(sim.bus.stats.dropped, 0);
});

test('bus - drop, duplicate and delay rates are roughly as configured', async (t) => {
  const DROP_P = 0.2;
  const DUPLICATE_P = 0.1;
  const sim = new Simulation({ seed: 9, faults: { latencyMinMs: 1, latencyMaxMs: 1, dropP: DROP_P, duplicateP: DUPLICATE_P, delayP: 0.2, delayMaxMs: 50 } });
  const seen = new Map<number, number>();
  const order: number[] = [];
  sim.bus.connect('sink').subscribe('n', { callback: (_e, m) => {
    const n = Number(dec(m.data));
    seen.set(n, (seen.get(n) ?? 0) + 1);
    order.push(n);
  } });
  const pub = sim.bus.connect('pub');
  const MESSAGES = 5000;
  for (let i = 0; i < MESSAGES; i++) {
    pub.publish('n', enc(String(i)));
    if (i % 100 === 99) await sim.runFor(1, 1000); // spread sends over time, so a delay can reorder
  }
  await sim.runUntil(() => sim.bus.pending() === 0, 20 * MESSAGES);
  const dropRate = 1 - seen.size / MESSAGES;
  const dupRate = [...seen.values()].filter((c) => c === 2).length / seen.size;
  t.true(Math.abs(dropRate - DROP_P) < 0.03, `drop rate ${dropRate}`);
  t.true(Math.abs(dupRate - DUPLICATE_P) < 0.03, `duplicate rate ${dupRate}`);
  t.true([...seen.values()].every((c) => c <= 2));
  t.true(order.some((n, i) => i > 0 && n < order[i - 1]!), 'some messages overtaken');
  t.is(sim.bus.stats.delivered, order.length);
});

test('bus - close() drops what is in flight to it, removes its subscriptions and fails its requests', async (t) => {
  const sim = new Simulation({ seed: 10, faults: { latencyMinMs: 10, latencyMaxMs: 10 } });
  const node = sim.bus.connect('node');
  const client = sim.bus.connect('client');
  const got: string[] = [];
  node.subscribe('svc', { callback: (_e, m) => got.push(dec(m.data)) });
  const pending = node.request('elsewhere.slow', enc('?'), { timeout: 1000 }).catch((e: Error) => e.message);
  sim.bus.connect('slow').subscribe('elsewhere.slow', { callback: () => {} });
  client.publish('svc', enc('in flight'));
  node.close();
  t.true(node.closed);
  t.is(await pending, 'connection closed');
  t.throws(() => node.publish('svc'), { message: /closed/ });
  await t.throwsAsync(node.flush(), { message: /closed/ });
  await sim.runUntil(() => sim.bus.pending() === 0, 10);
  t.deepEqual(got, []);
  t.true(sim.bus.stats.lost >= 1);
  let after: unknown;
  void client.request('svc', enc('?')).catch((e: Error) => { after = e; });
  await sim.runUntil(() => after !== undefined, 10);
  t.true(isNoResponders(after), 'its subscriptions are gone');
  t.is(sim.clock.pending(), 0, 'no request timer left behind');
  const again = sim.bus.connect('node');
  t.false(again.closed, 'the name is free again, as for a restarted node');
});

test('bus - a throwing subscriber is reported, and the run goes on', async (t) => {
  const sim = new Simulation({ seed: 11 });
  const c = sim.bus.connect('c');
  let after = 0;
  c.subscribe('x', { callback: () => { throw new Error('subscriber broke'); } });
  c.subscribe('x', { callback: () => { after++; } });
  c.publish('x');
  c.publish('x');
  await sim.runUntil(() => sim.bus.pending() === 0, 10);
  t.is(after, 2);
  t.is(sim.errors.length, 2);
  t.regex(sim.report('check'), /subscriber broke/);
});

/** A ping-pong workload across three connections, faults and a partition on; its trace, by seed. */
async function pingPong(seed: number): Promise<{ hash: string; events: number; outcomes: string[] }> {
  const sim = new Simulation({ seed, faults: { latencyMinMs: 1, latencyMaxMs: 20, dropP: 0.1, duplicateP: 0.05, delayP: 0.1, delayMaxMs: 40 } });
  const names = ['a', 'b', 'c'];
  const work = sim.random.fork('workload');
  const outcomes: string[] = [];
  names.forEach((name, i) => {
    const conn = sim.bus.connect(name);
    conn.subscribe(`ping.${name}`, { callback: (_e, m) => { m.respond(enc(`pong ${dec(m.data)}`)); } });
    conn.subscribe('svc', { queue: 'svc', callback: (_e, m) => { m.respond(enc(`svc ${name}`)); } });
    let n = 0;
    sim.clock.setInterval(() => {
      const to = work.pick(names.filter((x) => x !== name));
      const subject = work.chance(0.2) ? 'svc' : `ping.${to}`;
      const id = `${name}${++n}`;
      conn.request(subject, enc(id), { timeout: 60 }).then(
        (m) => outcomes.push(`${sim.clock.now()} ${id} ${dec(m.data)}`),
        (e: Error) => outcomes.push(`${sim.clock.now()} ${id} ${e.message}`),
      );
    }, 10 + i);
  });
  sim.clock.setTimeout(() => sim.bus.partition([['a'], ['b', 'c']]), 300);
  sim.clock.setTimeout(() => sim.bus.heal(), 600);
  await sim.runFor(1000, 50_000);
  return { hash: sim.trace.hash, events: sim.trace.count, outcomes };
}

test('simulation - the same seed replays exactly; another seed differs', async (t) => {
  const first = await pingPong(1234);
  const second = await pingPong(1234);
  const other = await pingPong(1235);
  t.true(first.events > 500, `a real workload: ${first.events} events`);
  t.true(first.outcomes.some((o) => /timeout/.test(o)) && first.outcomes.some((o) => /pong/.test(o)), 'faults and successes both happen');
  t.true(first.outcomes.some((o) => /no responders/.test(o)), 'the partition shows');
  t.is(second.hash, first.hash);
  t.deepEqual(second.outcomes, first.outcomes);
  t.not(other.hash, first.hash);
});

test('simulation - step runs timers and deliveries in time order and says when nothing is left', async (t) => {
  const sim = new Simulation({ seed: 12, faults: { latencyMinMs: 5, latencyMaxMs: 5 } });
  const log: string[] = [];
  const c = sim.bus.connect('c');
  c.subscribe('m', { callback: () => log.push(`msg@${sim.clock.now()}`) });
  const start = sim.clock.now();
  sim.clock.setTimeout(() => log.push(`timer@${sim.clock.now()}`), 5);
  c.publish('m');
  sim.clock.setTimeout(() => log.push(`late@${sim.clock.now()}`), 3);
  while (await sim.step()) { /* drain */ }
  t.deepEqual(log, [`late@${start + 3}`, `timer@${start + 5}`, `msg@${start + 5}`], 'equal times run in the order scheduled');
  t.is(sim.steps, 3);
  t.is(sim.trace.recent().length, 3);
  await t.throwsAsync(sim.runUntil(() => false, 5), { message: /nothing left to run/ });
});
