/**
 * The benchmark harness's pure parts: the zipfian key chooser, the YCSB op mix, /proc parsing,
 * the profile summariser and the round statistics. No timing: nothing here measures speed.
 */
import test from 'ava';
import { readFileSync } from 'node:fs';
import { parseMachineCpu, parseProcStat, parseStatusKb } from '../bench/cpu.ts';
import { isMainThreadProfile, selfTimes, summariseProfiles, type CpuProfile } from '../bench/profile.ts';
import { mulberry32 } from '../bench/random.ts';
import { baselineLines, durabilityLines, floorPairedLines, median, peerPairedLines, ratioLines, ratios, spread, summariseRounds, targetLine, type Measurement, type Summary } from '../bench/report.ts';
import { parseFloorFeatures } from '../bench/floor/features.ts';
import { profiledTargets } from '../bench/suite.ts';
import { isValueOf, keyName, OpStream, parseWorkloads, valueFor, WORKLOADS } from '../bench/workload.ts';
import { shuffledRange, Zipf, zeta } from '../bench/zipf.ts';

function histogram(z: Zipf, draws: number, seed: number): number[] {
  const random = mulberry32(seed);
  const counts = new Array<number>(z.items).fill(0);
  for (let i = 0; i < draws; i++) counts[z.next(random)]!++;
  return counts;
}

test('zipf - the same seed gives the same sequence, another seed another one', (t) => {
  const z = new Zipf({ items: 1000, scrambleSeed: mulberry32(7) });
  const draw = (seed: number) => {
    const r = mulberry32(seed);
    return Array.from({ length: 200 }, () => z.next(r));
  };
  t.deepEqual(draw(1), draw(1));
  t.notDeepEqual(draw(1), draw(2));
});

test('zipf - every index is within [0, keys), for small and odd key counts', (t) => {
  for (const items of [1, 2, 3, 10, 997, 5000]) {
    const z = new Zipf({ items, scrambleSeed: mulberry32(items) });
    const r = mulberry32(11);
    for (let i = 0; i < 20_000; i++) {
      const k = z.next(r);
      if (!(Number.isInteger(k) && k >= 0 && k < items)) return t.fail(`index ${k} out of [0, ${items})`);
    }
  }
  t.pass();
});

test('zipf - s=0.99 over 1000 keys: the hottest key gets 1/zeta(1000, 0.99) of the draws (about 13%)', (t) => {
  const z = new Zipf({ items: 1000 });
  const draws = 200_000;
  const counts = histogram(z, draws, 42);
  const expected = 1 / zeta(1000, 0.99);
  t.true(expected > 0.12 && expected < 0.14, `expected share ${expected}`);
  const share = counts[0]! / draws;
  t.true(Math.abs(share - expected) / expected < 0.05, `rank 0 share ${share}, expected ${expected}`);
  // Rank 1 is exactly 2^-s times as popular as rank 0 in YCSB's generator.
  const second = counts[1]! / draws;
  t.true(Math.abs(second - expected * Math.pow(0.5, 0.99)) < 0.005, `rank 1 share ${second}`);
});

test('zipf - rank-frequency shape follows the zipf cumulative distribution', (t) => {
  const n = 1000;
  const z = new Zipf({ items: n });
  const draws = 200_000;
  const counts = histogram(z, draws, 3);
  for (const k of [10, 100, 500]) {
    const got = counts.slice(0, k).reduce((a, b) => a + b, 0) / draws;
    const exact = zeta(k, 0.99) / zeta(n, 0.99);
    t.true(Math.abs(got - exact) < 0.03, `top ${k} keys: ${got}, exact zipf ${exact}`);
  }
  // Popularity falls with rank (over coarse buckets, to stay clear of sampling noise).
  const bucket = (from: number, to: number) => counts.slice(from, to).reduce((a, b) => a + b, 0) / (to - from);
  t.true(bucket(0, 10) > bucket(10, 100));
  t.true(bucket(10, 100) > bucket(100, 1000));
  // With s < 1 even the coldest keys are drawn.
  t.true(counts.every((c) => c > 0));
});

test('zipf - scrambling moves the hot keys but keeps the distribution', (t) => {
  const plain = histogram(new Zipf({ items: 1000 }), 50_000, 5);
  const scrambled = histogram(new Zipf({ items: 1000, scrambleSeed: mulberry32(7) }), 50_000, 5);
  t.deepEqual([...scrambled].sort((a, b) => b - a), [...plain].sort((a, b) => b - a));
  const hottest = scrambled.indexOf(Math.max(...scrambled));
  t.not(hottest, 0);
});

test('zipf - the scramble is a permutation', (t) => {
  const p = shuffledRange(1000, mulberry32(9));
  t.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
});

test('zipf - rejects a bad key count or exponent', (t) => {
  t.throws(() => new Zipf({ items: 0 }), { instanceOf: RangeError });
  t.throws(() => new Zipf({ items: 1.5 }), { instanceOf: RangeError });
  t.throws(() => new Zipf({ items: 10, s: 1 }), { instanceOf: RangeError });
});

test('workload - A, B and C mix reads and updates 50/50, 95/5 and 100/0', (t) => {
  const draws = 100_000;
  for (const [name, reads] of [['A', 0.5], ['B', 0.95], ['C', 1]] as const) {
    const s = new OpStream(WORKLOADS[name], 5000, mulberry32(1));
    let r = 0;
    for (let i = 0; i < draws; i++) {
      const op = s.next();
      if (op.keyIndex < 0 || op.keyIndex >= 5000) return t.fail(`key index ${op.keyIndex}`);
      if (op.kind === 'read') r++;
    }
    t.true(Math.abs(r / draws - reads) < 0.01, `workload ${name}: ${r / draws} reads, expected ${reads}`);
  }
});

test('workload - the same seed replays the same operations', (t) => {
  const ops = (seed: number) => {
    const s = new OpStream(WORKLOADS.A, 100, mulberry32(seed));
    return Array.from({ length: 100 }, () => s.next());
  };
  t.deepEqual(ops(4), ops(4));
});

test('workload - parses a list of names and rejects unknown ones', (t) => {
  t.deepEqual(parseWorkloads('a, C').map((w) => w.name), ['A', 'C']);
  t.throws(() => parseWorkloads('A,D'), { message: /unknown workload/ });
});

test('workload - values have the exact size and name their key', (t) => {
  const key = keyName(42);
  for (const bytes of [1, 5, 100, 4096]) {
    const v = valueFor(key, 7, bytes);
    t.is(v.length, bytes);
    t.true(isValueOf(key, v, bytes));
  }
  t.false(isValueOf(key, valueFor(keyName(43), 7, 100), 100), 'another key\'s value is a wrong answer');
  t.false(isValueOf(key, valueFor(key, 7, 99), 100), 'a value of the wrong size is a wrong answer');
});

test('cpu - parses utime and stime from a /proc/<pid>/stat line whose name has spaces and parentheses', (t) => {
  const line = '12345 (node (x) y) S 1 12345 12345 0 -1 4194304 5221 0 0 0 731 212 0 0 20 0 11 0 3069 1150566400 17000 18446744073709551615 1 1 0 0 0 0 0 16781312 134235650 0 0 0 17 1 0 0 0 0 0';
  const s = parseProcStat(line);
  t.is(s.pid, 12345);
  t.is(s.comm, 'node (x) y');
  t.is(s.utimeTicks, 731);
  t.is(s.stimeTicks, 212);
});

test('cpu - reads peak and current RSS from /proc/<pid>/status', (t) => {
  const status = 'Name:\tnode\nVmPeak:\t 1000 kB\nVmHWM:\t   2048 kB\nVmRSS:\t   1024 kB\n';
  t.is(parseStatusKb(status, 'VmHWM'), 2048 * 1024);
  t.is(parseStatusKb(status, 'VmRSS'), 1024 * 1024);
  t.is(parseStatusKb('Name:\tx\n', 'VmHWM'), undefined);
});

test('cpu - this process can be read from /proc', (t) => {
  const s = parseProcStat(readFileSync(`/proc/${process.pid}/stat`, 'utf8'));
  t.is(s.pid, process.pid);
});

test('cpu - reads the machine\'s busy and stolen ticks from the first line of /proc/stat', (t) => {
  const m = parseMachineCpu('cpu  195578 10 47244 199719 1679 20 9364 194 0 0');
  t.is(m.busyTicks, 195578 + 10 + 47244 + 20 + 9364);
  t.is(m.stealTicks, 194);
  t.throws(() => parseMachineCpu('cpu0 1 2 3'));
});

test('report - median and spread over rounds', (t) => {
  t.is(median([3, 1, 2]), 2);
  t.is(median([4, 1, 2, 3]), 2.5);
  t.is(spread([100]), 0);
  t.is(spread([90, 100, 110]), 0.2);
});

test('profile - self time per function, idle left out, only inside the measured windows', (t) => {
  const frame = (functionName: string, url = '') => ({ functionName, url, lineNumber: 0, columnNumber: 0 });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame('(root)') },
      { id: 2, callFrame: frame('(idle)') },
      { id: 3, callFrame: frame('work', 'node:internal/x') },
    ],
    startTime: 1_000,
    endTime: 1_400,
    samples: [3, 3, 2, 3],
    timeDeltas: [0, 100, 100, 100],
  };
  const self = selfTimes(profile);
  t.is(self.get(3), 300);
  t.is(self.get(2), 100);
  const all = summariseProfiles([profile]);
  t.is(all.busyMs, 0.3);
  t.is(all.idleMs, 0.1);
  t.is(all.functions[0]!.name, 'work node:internal/x');
  const windowed = summariseProfiles([profile], 10, [{ startMicros: 1_000, endMicros: 1_150 }]);
  t.is(windowed.busyMs, 0.2);
});

test('profile - the main thread\'s file is told apart from the loader thread\'s', (t) => {
  t.true(isMainThreadProfile('n1/CPU.20261126.115918.18539.0.001.cpuprofile'));
  t.false(isMainThreadProfile('n1/CPU.20261126.115918.18539.1.002.cpuprofile'));
});

const row = (target: string, workload: string, throughput: number, p999Ms: number, errorCount = 0): Summary => ({
  target,
  workload,
  rounds: 3,
  throughput,
  p50Ms: 1,
  p99Ms: 2,
  p999Ms,
  cpuSecondsPerKiloOps: throughput > 0 ? 1000 / throughput : 0,
  rssPeakBytes: 0,
  errors: errorCount ? { timeout: errorCount } : {},
  errorCount,
  spread: { throughput: 0, p99Ms: 0, p999Ms: 0 },
  spreadLarge: false,
});

test('report - each way of reaching dkv is held to the goal against the peer on its own', (t) => {
  const summaries = [row('dkv', 'A', 8_000, 30), row('dkv-client', 'A', 36_000, 20), row('jetstream', 'A', 50_000, 10), row('echo', 'A', 55_000, 8)];
  const rs = ratios(summaries);
  // Each dkv target against each other target, never against the other dkv target.
  t.deepEqual(rs.map((r) => `${r.subject}/${r.against}`).sort(), ['dkv-client/echo', 'dkv-client/jetstream', 'dkv/echo', 'dkv/jetstream']);
  t.is(rs.find((r) => r.subject === 'dkv' && r.against === 'jetstream')!.throughput, 0.16);
  t.regex(targetLine(rs, summaries, [], 'dkv')!, /target for dkv .*: not met \(0\.16x, 3\.00x\)/);
  t.regex(targetLine(rs, summaries, [], 'dkv-client')!, /target for dkv-client .*: met \(0\.72x, 2\.00x\)/);
  // A p99.9 above 3x fails the goal even at full throughput.
  const slow = [row('dkv-client', 'A', 40_000, 31), row('jetstream', 'A', 50_000, 10)];
  t.regex(targetLine(ratios(slow), slow, [], 'dkv-client')!, /: not met/);
});

test('report - the replication floor is measured against the peer and the echo, and dkv against it; it is held to no goal', (t) => {
  const summaries = [row('dkv-client', 'A', 16_000, 20), row('jetstream', 'A', 48_000, 10), row('echo', 'A', 50_000, 8), row('replication-floor', 'A', 32_000, 15)];
  const rs = ratios(summaries);
  t.deepEqual(rs.map((r) => `${r.subject}/${r.against}`).sort(), ['dkv-client/echo', 'dkv-client/jetstream', 'dkv-client/replication-floor', 'replication-floor/echo', 'replication-floor/jetstream']);
  t.is(rs.find((r) => r.subject === 'dkv-client' && r.against === 'replication-floor')!.throughput, 0.5);
  t.regex(ratioLines(rs).join('\n'), /workload A: replication-floor \/ peer \(JetStream KV\): throughput 0\.67x/);
  t.is(targetLine(rs, summaries, [], 'replication-floor'), undefined);
});

test('report - the protocol floor is measured against the peers, and dkv against it', (t) => {
  const summaries = [row('dkv', 'A', 6_000, 30), row('jetstream-r3', 'A', 12_000, 12), row('replication-floor-protocol', 'A', 8_000, 20)];
  const rs = ratios(summaries);
  t.deepEqual(rs.map((r) => `${r.subject}/${r.against}`).sort(), ['dkv/jetstream-r3', 'dkv/replication-floor-protocol', 'replication-floor-protocol/jetstream-r3']);
  const lines = ratioLines(rs);
  t.true(lines.includes('workload A: dkv / replication floor (protocol): throughput 0.75x, p99.9 1.50x, CPU per op 1.33x'), lines.join('\n'));
  t.true(lines.includes('workload A: replication-floor-protocol / peer R3 (JetStream KV, 3 replicas): throughput 0.67x, p99.9 1.67x, CPU per op 1.50x'), lines.join('\n'));
  t.is(targetLine(rs, summaries, [], 'replication-floor-protocol'), undefined);
});

test('report - dkv against both peers, one replica and three, each named, with each side\'s durability', (t) => {
  const summaries = [row('dkv', 'A', 8_000, 30), row('dkv-client', 'A', 20_000, 15), row('jetstream', 'A', 40_000, 10), row('jetstream-r3', 'A', 16_000, 12), row('echo', 'A', 50_000, 8), row('replication-floor', 'A', 24_000, 12)];
  const rs = ratios(summaries);
  t.deepEqual(rs.map((r) => `${r.subject}/${r.against}`).sort(), [
    'dkv-client/echo',
    'dkv-client/jetstream',
    'dkv-client/jetstream-r3',
    'dkv-client/replication-floor',
    'dkv/echo',
    'dkv/jetstream',
    'dkv/jetstream-r3',
    'dkv/replication-floor',
    'replication-floor/echo',
    'replication-floor/jetstream',
    'replication-floor/jetstream-r3',
  ]);
  const lines = ratioLines(rs);
  // The one-replica peer's line is unchanged; the three-replica peer has its own.
  t.true(lines.includes('workload A: dkv-client / peer (JetStream KV): throughput 0.50x, p99.9 1.50x, CPU per op 2.00x'), lines.join('\n'));
  t.true(lines.includes('workload A: dkv-client / peer R3 (JetStream KV, 3 replicas): throughput 1.25x, p99.9 1.25x, CPU per op 0.80x'), lines.join('\n'));
  t.true(lines.includes('workload A: dkv / peer R3 (JetStream KV, 3 replicas): throughput 0.50x, p99.9 2.50x, CPU per op 2.00x'), lines.join('\n'));
  // The goal stays the one against the one-replica peer.
  t.regex(targetLine(rs, summaries, [], 'dkv-client')!, /: not met \(0\.50x, 1\.50x\)/);

  const targets = summaries.map((s) => s.target);
  const periodic = durabilityLines({ storage: 'lmdb', sync: 'periodic', w: 2, n: 3 }, targets, 'nats-server v2.9.10');
  t.is(periodic.length, 3);
  t.regex(periodic[0]!, /^durability: dkv lmdb --sync periodic: .*W=2 of N=3 .*no fsync per write/);
  t.regex(periodic[1]!, /^durability: peer \(jetstream\) file store, replicas 1: .*nats-server v2\.9\.10 default sync \(no fsync per write; .*every 2 min by default\)/);
  t.regex(periodic[2]!, /^durability: peer R3 \(jetstream-r3\) file store, replicas 3: .*2 of 3 servers.*nats-server v2\.9\.10 default sync/);
  t.regex(durabilityLines({ storage: 'lmdb', sync: 'always', w: 2, n: 3 }, ['dkv-client', 'jetstream-r3'])[0]!, /--sync always: .*W=2 of N=3 replicas fsynced it/);
  t.regex(durabilityLines({ storage: 'lmdb', sync: 'one', w: 2, n: 3 }, ['dkv-client'])[0]!, /--sync one: .*W=2 of N=3 replicas committed it, one of them fsynced/);
  t.deepEqual(durabilityLines({ storage: 'lmdb', sync: 'periodic', w: 2, n: 3 }, ['dkv-client@base', 'jetstream']).map((l) => l.split(' ').slice(0, 3).join(' ')), ['durability: dkv lmdb', 'durability: peer (jetstream)']);
  t.deepEqual(durabilityLines({ storage: 'memory', sync: 'periodic', w: 2, n: 3 }, ['echo']), []);
});

test('report - the table puts the three-replica peer after the one-replica peer, before the floor', (t) => {
  const m = (target: string) => ({ target, workload: 'A', round: 1, throughput: 1, latency: { p50Ms: 1, p99Ms: 1, p999Ms: 1 }, cpuSecondsPerKiloOps: 1, rssPeakBytes: 0, errors: {} }) as unknown as Measurement;
  t.deepEqual(summariseRounds(['echo', 'jetstream-r3', 'dkv', 'jetstream', 'dkv-client'].map(m)).map((s) => s.target), ['dkv', 'dkv-client', 'jetstream', 'jetstream-r3', 'echo']);
});

test('floor - features parse in any order, unknown ones and parse without dvv are refused', (t) => {
  t.deepEqual(parseFloorFeatures(''), []);
  t.deepEqual(parseFloorFeatures('engine, dvv,parse,dvv'), ['engine', 'dvv', 'parse']);
  t.throws(() => parseFloorFeatures('dvv,fast'), { message: /unknown floor feature "fast"/ });
  t.throws(() => parseFloorFeatures('parse'), { message: /parse needs dvv/ });
  t.deepEqual(parseFloorFeatures('dvv,feed'), ['dvv', 'feed']);
  t.throws(() => parseFloorFeatures('feed'), { message: /feed needs dvv/ });
});

test('report - errors or a broken process make the goal line NOT VALID, for the target concerned only', (t) => {
  const summaries = [row('dkv', 'A', 8_000, 30, 2), row('dkv-client', 'A', 36_000, 20), row('jetstream', 'A', 50_000, 10)];
  const rs = ratios(summaries);
  t.regex(targetLine(rs, summaries, [], 'dkv')!, /NOT VALID, dkv had 2 error replies/);
  t.regex(targetLine(rs, summaries, [], 'dkv-client')!, /: met/);
  t.regex(targetLine(rs, summaries, ['dkv-client'], 'dkv-client')!, /NOT VALID, dkv-client broke/);
  t.regex(targetLine(rs, summaries, ['jetstream'], 'dkv-client')!, /NOT VALID, jetstream broke/);
  t.is(targetLine(rs, summaries, [], 'nothing'), undefined);
});

/** One target's figures of one round of workload A, as the paired lines read them. */
const measured = (target: string, round: number, throughput: number, cpu: number) => ({ target, workload: 'A', round, throughput, cpuSecondsPerKiloOps: cpu }) as unknown as Measurement;

test('report - a baseline is compared with its own way of reaching dkv, and round by round', (t) => {
  const summaries = [row('dkv', 'A', 8_000, 30), row('dkv-client', 'A', 12_000, 20), row('dkv-client@base', 'A', 10_000, 25), row('jetstream', 'A', 50_000, 10)];
  t.deepEqual(ratios(summaries).map((r) => `${r.subject}/${r.against}`).sort(), ['dkv-client/dkv-client@base', 'dkv-client/jetstream', 'dkv/jetstream']);

  // Round 2 ran on a busy machine: both halves slowed down, their ratio did not.
  const ms = [measured('dkv-client', 1, 12_000, 0.1), measured('dkv-client@base', 1, 10_000, 0.125), measured('dkv-client', 2, 6_000, 0.2), measured('dkv-client@base', 2, 5_000, 0.25), measured('dkv-client', 3, 11_000, 0.1), measured('dkv-client@base', 3, 10_000, 0.1), measured('jetstream', 1, 50_000, 0.03)];
  const lines = baselineLines(ms);
  t.is(lines.length, 1);
  t.is(lines[0], 'workload A: dkv-client / dkv-client@base, paired by round: throughput 1.20x (rounds 1.20 1.20 1.10), CPU per op 0.80x (rounds 0.80 0.80 1.00)');
  // Without a baseline there is nothing to say.
  t.deepEqual(baselineLines(ms.filter((x) => !x.target.endsWith('@base'))), []);
});

test('report - dkv and the floors against the three-replica peer, round by round, when there are rounds to pair', (t) => {
  // The peer slows down from round to round; each of dkv's rounds is set against the peer's of the same round.
  const ms = [
    measured('dkv', 1, 6_000, 0.3), measured('jetstream-r3', 1, 12_000, 0.15),
    measured('dkv', 2, 6_000, 0.3), measured('jetstream-r3', 2, 10_000, 0.18),
    measured('dkv', 3, 5_400, 0.3), measured('jetstream-r3', 3, 9_000, 0.2),
    measured('replication-floor-protocol', 1, 7_200, 0.25), measured('replication-floor-protocol', 2, 7_000, 0.25),
    measured('jetstream', 1, 20_000, 0.08), measured('jetstream', 2, 20_000, 0.08),
  ];
  const lines = peerPairedLines(ms);
  t.deepEqual(lines, [
    'workload A: dkv / jetstream-r3, paired by round: throughput 0.60x (rounds 0.50 0.60 0.60), CPU per op 1.67x (rounds 2.00 1.67 1.50)',
    'workload A: replication-floor-protocol / jetstream-r3, paired by round: throughput 0.65x (rounds 0.60 0.70), CPU per op 1.53x (rounds 1.67 1.39)',
  ]);
  // One round has nothing to pair beyond the table's own ratio; no peer, nothing at all.
  t.deepEqual(peerPairedLines(ms.filter((x) => x.round === 1)), []);
  t.deepEqual(peerPairedLines(ms.filter((x) => x.target !== 'jetstream-r3')), []);
});

test('report - the second floor against the first, round by round, only when both ran', (t) => {
  const ms = [
    measured('replication-floor-protocol', 1, 8_000, 0.2), measured('replication-floor-protocol-2', 1, 7_200, 0.22),
    measured('replication-floor-protocol', 2, 6_000, 0.25), measured('replication-floor-protocol-2', 2, 5_700, 0.25),
    measured('jetstream-r3', 1, 10_000, 0.15), measured('jetstream-r3', 2, 9_000, 0.16),
  ];
  t.deepEqual(floorPairedLines(ms), ['workload A: replication-floor-protocol-2 / replication-floor-protocol, paired by round: throughput 0.93x (rounds 0.90 0.95), CPU per op 1.05x (rounds 1.10 1.00)']);
  // It is a floor like the others against the peer.
  t.true(peerPairedLines(ms).some((l) => l.startsWith('workload A: replication-floor-protocol-2 / jetstream-r3, paired by round')));
  t.deepEqual(floorPairedLines(ms.filter((x) => x.target !== 'replication-floor-protocol')), []);
  t.deepEqual(floorPairedLines(ms.filter((x) => x.target !== 'replication-floor-protocol-2')), []);
});

test('bench - --cpu-prof profiles node n1 of dkv\'s targets and of two floors, never of a peer, a baseline or the second floor', (t) => {
  t.deepEqual(profiledTargets(['dkv', 'dkv@base', 'jetstream-r3', 'replication-floor-protocol', 'replication-floor-protocol-2']), ['dkv', 'replication-floor-protocol']);
  t.deepEqual(profiledTargets(['dkv-client', 'replication-floor', 'echo']), ['dkv-client', 'replication-floor']);
  t.deepEqual(profiledTargets(['jetstream', 'echo', 'replication-floor-protocol-2']), []);
});
