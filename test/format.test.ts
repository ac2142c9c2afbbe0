import test from 'ava';
import { formatStatus } from '../src/cli/format.ts';

// Times are built in local time, as the formatter prints them, so the test holds in any time zone.
const at = (h: number, m: number, s: number) => new Date(2025, 0, 15, h, m, s).getTime();

const status = {
  cluster: 'demo',
  answeredBy: 'n2',
  settings: { n: 3, r: 2, w: 2, q: 64 },
  members: [
    {
      node: 'n1',
      state: 'up',
      partitionsOwned: 32,
      replicaPartitions: 64,
      uptimeMs: 125_400,
      backlog: { hints: 0, hintsMax: 100_000, full: false, delivered: 0, deliveryFailures: 0 },
      view: [
        { node: 'n2', status: 'up', sinceMs: at(12, 0, 0), lastOkMs: at(12, 1, 5) },
        { node: 'n3', status: 'down', sinceMs: at(12, 1, 2), reason: 'no-responders', lastOkMs: at(12, 0, 58) },
      ],
      nats: { disconnects: 0, reconnects: 0 },
      requests: { gets: 10, writes: 5, forwardedWrites: 1, sloppy: 2, retries: 0, failures: 0, expired: 0 },
    },
    {
      node: 'n2',
      state: 'up',
      partitionsOwned: 32,
      replicaPartitions: 64,
      uptimeMs: 3_000,
      backlog: { hints: 100, hintsMax: 100, full: true, delivered: 42, deliveryFailures: 3 },
      view: [
        { node: 'n1', status: 'up', sinceMs: at(12, 0, 0) },
        { node: 'n3', status: 'down', sinceMs: at(12, 1, 3), reason: 'timeout' },
      ],
      nats: { disconnects: 2, reconnects: 2, lastDisconnectAt: new Date(at(12, 3, 0)).toISOString(), lastReconnectAt: new Date(at(12, 3, 4)).toISOString() },
      requests: { gets: 0, writes: 0, forwardedWrites: 0, sloppy: 0, retries: 0, failures: 0, expired: 0 },
    },
    { node: 'n3', state: 'unreachable' },
  ],
};

function lineOf(text: string, start: string): string {
  const line = text.split('\n').find((l) => l.startsWith(start));
  if (line === undefined) throw new Error(`no line starting with ${JSON.stringify(start)} in\n${text}`);
  return line;
}

test('format - status keeps the header line with the settings', (t) => {
  const text = formatStatus(status);
  t.is(text.split('\n')[0], 'cluster demo (answered by n2): N=3 R=2 W=2 Q=64');
});

test('format - status table has the hint, delivery and reconnect columns', (t) => {
  const text = formatStatus(status);
  const header = text.split('\n')[1]!;
  for (const column of ['NODE', 'STATE', 'MEMBER', 'PARTITIONS OWNED', 'REPLICA PARTITIONS', 'HINTS', 'DELIVERED', 'RECONNECTS', 'UPTIME']) {
    t.true(header.includes(column), column);
  }
  // Columns line up: every row's HINTS cell starts under the header.
  const hintsColumn = header.indexOf('HINTS');
  t.is(lineOf(text, 'n1 ').slice(hintsColumn).split(/\s{2,}/)[0], '0/100000');

  const n1 = lineOf(text, 'n1 ');
  t.regex(n1, /\bup\b/);
  t.regex(n1, /0\/100000\s+0\s+0\s+125s$/);

  const n2 = lineOf(text, 'n2 ');
  t.true(n2.includes('100/100 FULL'), n2);
  t.true(n2.includes('42 (3 failed)'), n2);
  t.true(n2.includes('2 (last 12:03:04)'), n2);
  t.true(n2.endsWith('3s'), n2);
});

test('format - an unreachable member shows dashes, not undefined', (t) => {
  const text = formatStatus(status);
  const n3 = lineOf(text, 'n3 ');
  t.regex(n3, /^n3\s+unreachable(\s+-){7}$/);
  t.false(text.includes('undefined'));
  t.false(text.includes('NaN'));
});

test('format - one line per member shows its own view of its peers', (t) => {
  const text = formatStatus(status);
  t.is(lineOf(text, 'n1 sees:'), 'n1 sees: n2 up, n3 down (no-responders since 12:01:02, last ok 12:00:58)');
  t.is(lineOf(text, 'n2 sees:'), 'n2 sees: n1 up, n3 down (timeout since 12:01:03)');
  t.is(lineOf(text, 'n3 sees:'), 'n3 sees: nothing (unreachable)');
  // The views come after the table, in member order.
  const lines = text.split('\n');
  t.deepEqual(lines.slice(-3).map((l) => l.split(':')[0]), ['n1 sees', 'n2 sees', 'n3 sees']);
});

test('format - a lone node sees no peers; a reply without members is just the header and columns', (t) => {
  const lone = formatStatus({ ...status, members: [{ ...status.members[0]!, view: [] }] });
  t.true(lone.includes('n1 sees: no peers'));
  const empty = formatStatus({ cluster: 'demo', answeredBy: 'n1', settings: { n: 1, r: 1, w: 1, q: 8 } });
  t.is(empty.split('\n').length, 2);
});

test('format - membership: member status per node, the ring, and every transfer in progress', (t) => {
  const withRing = {
    ...status,
    members: [
      { ...status.members[0]!, status: 'valid', inRing: true },
      { ...status.members[1]!, status: 'joining', inRing: true },
      { node: 'n3', state: 'unreachable', status: 'leaving', inRing: false },
    ],
    ring: { q: 64, version: 4, nodes: ['n1', 'n2'] },
    transfers: [
      { node: 'n2', partition: 7, state: 'receiving', moved: 120, source: 'n3' },
      { node: 'n2', partition: 8, state: 'receiving', moved: 0, source: 'n1' },
      { node: 'n3', partition: 9, state: 'giving', moved: 0 },
    ],
  };
  const text = formatStatus(withRing);
  const memberColumn = text.split('\n')[1]!.indexOf('MEMBER');
  t.is(lineOf(text, 'n1 ').slice(memberColumn).split(/\s{2,}/)[0], 'valid');
  t.is(lineOf(text, 'n2 ').slice(memberColumn).split(/\s{2,}/)[0], 'joining');
  t.is(lineOf(text, 'n3 ').slice(memberColumn).split(/\s{2,}/)[0], 'leaving (out of ring)');
  t.is(lineOf(text, 'ring version'), 'ring version 4: n1, n2');
  t.is(lineOf(text, 'transfers'), 'transfers in progress (3 partitions):');
  t.true(text.includes('\n  n2 receiving 2 partitions (now partition 7 from n3; 120 keys of unfinished partitions in)\n'), text);
  t.true(text.includes('\n  n3 giving 1 partition: waiting for their new replicas to confirm'));
  t.true(formatStatus({ ...withRing, transfers: [] }).includes('transfers: none in progress'));
});

test('format - one repair line per node that reports anti-entropy figures', (t) => {
  const text = formatStatus({
    ...status,
    members: [{ ...status.members[0]!, requests: { ...status.members[0]!.requests, readRepairs: 4 }, antiEntropy: { exchanges: 120, agreeing: 118, keysRepaired: 3, keysPushed: 2, tombstonesReaped: 1 } }],
  });
  t.is(lineOf(text, 'n1 repair:'), 'n1 repair: 120 exchanges (118 agreeing), 3 keys pulled, 2 pushed, 4 read repairs, 1 tombstones reaped');
  t.false(formatStatus(status).includes('repair:'), 'no line without figures');
});

test('format - one requests line per node: requests, batches and reads answered "same"', (t) => {
  const requests = { gets: 4489, writes: 6283, forwardedWrites: 12, failures: 3, readRepairs: 0, sameReads: 8012, batches: 1303, batchedOps: 10772, fastReads: 4401, fastReadHandovers: 2 };
  const text = formatStatus({ ...status, members: [{ ...status.members[0]!, requests }] });
  t.is(lineOf(text, 'n1 requests:'), 'n1 requests: 4489 gets (4401 fast, 2 handed over), 6283 writes (12 forwarded), 3 failed; 1303 batches of 10772 calls; 8012 replica reads answered same');
  t.false(formatStatus({ ...status, members: [{ node: 'n1', state: 'unreachable' }] }).includes('requests:'), 'no line for a member without figures');
});

test('format - the requests line ends with the background allowance and why it was cut; a rebuild says so', (t) => {
  const requests = { gets: 1, writes: 2, forwardedWrites: 0, failures: 0, sameReads: 0, batches: 0, batchedOps: 0, fastReads: 1, fastReadHandovers: 0 };
  const admission = { opsMax: 64, inProgress: 40, rejected: 7 };
  const held = { allowance: 0.25, lastWindow: { hurting: 'p90 of 212 client operations above 50 ms' } };
  const text = formatStatus({ ...status, members: [{ ...status.members[0]!, requests, admission, background: held }] });
  t.regex(lineOf(text, 'n1 requests:'), /; 40 of 64 in progress, 7 shed as overloaded; background at 25% of its rate \(p90 of 212 client operations above 50 ms\)$/);
  const calm = formatStatus({ ...status, members: [{ ...status.members[0]!, requests, admission, background: { allowance: 1, lastWindow: { hurting: null } } }] });
  t.regex(lineOf(calm, 'n1 requests:'), /; background at 100% of its rate$/);
  const rebuilding = formatStatus({ ...status, transfers: [{ node: 'n2', partition: 3, state: 'receiving', moved: 40, source: 'n1', rebuild: true }, { node: 'n2', partition: 4, state: 'receiving', moved: 0, source: 'n3', rebuild: true }] });
  t.true(rebuilding.includes('\n  n2 rebuilding its new store: receiving 2 partitions (now partition 3 from n1; 40 keys of unfinished partitions in)'), rebuilding);
});

test('format - one storage line per node: engine, sync mode and NATS traffic', (t) => {
  const member = { ...status.members[0]!, storage: 'lmdb', sync: 'periodic', syncs: 310, nats: { ...status.members[0]!.nats, inMsgs: 1204, outMsgs: 1180, inBytes: 312_000, outBytes: 1_449_999 } };
  const text = formatStatus({ ...status, members: [member] });
  t.is(lineOf(text, 'n1 storage'), 'n1 storage lmdb (sync periodic, 310 fsyncs); NATS 1204 messages in, 1180 out, 0.3 MB in, 1.4 MB out');
  // `always` reports no fsync count: every write is one.
  t.is(lineOf(formatStatus({ ...status, members: [{ ...member, sync: 'always', syncs: undefined }] }), 'n1 storage'), 'n1 storage lmdb (sync always); NATS 1204 messages in, 1180 out, 0.3 MB in, 1.4 MB out');
  // The memory engine has no sync mode; an older node reports no traffic.
  t.is(lineOf(formatStatus({ ...status, members: [{ ...status.members[0]!, storage: 'memory' }] }), 'n1 storage'), 'n1 storage memory');
  t.false(formatStatus(status).includes('storage'), 'no line for a member that reports no storage');
});
