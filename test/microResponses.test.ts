/** The micro-service discovery responses (src/microService.ts) from plain figures. */
import test from 'ava';
import { infoResponse, microSubjects, newTally, pingResponse, statsResponse, tallyError, tallyReply, type MicroEndpoint } from '../src/microService.ts';

const who = { name: 'dkv', id: 'n1', version: '0.1.0', metadata: { node: 'n1', cluster: 'local' } };

test('micro responses - nine subjects: every service, the name, the instance, per verb', (t) => {
  t.deepEqual(
    microSubjects('dkv', 'n1').map((s) => `${s.verb} ${s.subject}`),
    ['PING $SRV.PING', 'PING $SRV.PING.dkv', 'PING $SRV.PING.dkv.n1', 'INFO $SRV.INFO', 'INFO $SRV.INFO.dkv', 'INFO $SRV.INFO.dkv.n1', 'STATS $SRV.STATS', 'STATS $SRV.STATS.dkv', 'STATS $SRV.STATS.dkv.n1'],
  );
});

test('micro responses - ping and info carry the identity; info lists the endpoints with their queue group', (t) => {
  t.deepEqual(pingResponse(who), { type: 'io.nats.micro.v1.ping_response', name: 'dkv', id: 'n1', version: '0.1.0', metadata: { node: 'n1', cluster: 'local' } });
  const endpoints: MicroEndpoint[] = [
    { name: 'get', subject: 'dkv.local.get', queueGroup: 'dkv-local', tally: newTally() },
    { name: 'peek', subject: 'dkv.local.node.n1.peek', queueGroup: '', tally: newTally() },
  ];
  t.deepEqual(infoResponse(who, 'a node', endpoints), {
    type: 'io.nats.micro.v1.info_response',
    name: 'dkv',
    id: 'n1',
    version: '0.1.0',
    metadata: { node: 'n1', cluster: 'local' },
    description: 'a node',
    endpoints: [
      { name: 'get', subject: 'dkv.local.get', queue_group: 'dkv-local', metadata: null },
      { name: 'peek', subject: 'dkv.local.node.n1.peek', queue_group: '', metadata: null },
    ],
  });
});

test('micro responses - stats: counts, errors with the last one, integer nanoseconds and their average', (t) => {
  const tally = newTally();
  tally.requests = 3;
  tallyReply(tally, 10, 10.5, { ok: true });
  tallyReply(tally, 20, 21.25, { error: { code: 'bad_request', message: 'no key' } });
  tallyError(tally, 'overloaded: refused');
  tallyReply(tally, 30, 30.0000004, { values: [] });
  const idle = newTally();
  const stats = statsResponse(who, Date.UTC(2025, 0, 2, 3, 4, 5, 6), [
    { name: 'put', subject: 'dkv.local.put', queueGroup: 'dkv-local', tally },
    { name: 'ring', subject: 'dkv.local.ring', queueGroup: 'dkv-local', tally: idle },
  ]) as any;
  t.is(stats.type, 'io.nats.micro.v1.stats_response');
  t.is(stats.started, '2025-01-02T03:04:05.006Z');
  t.deepEqual(stats.metadata, who.metadata);
  t.deepEqual(stats.endpoints[0], {
    name: 'put',
    subject: 'dkv.local.put',
    queue_group: 'dkv-local',
    num_requests: 3,
    num_errors: 2,
    last_error: 'overloaded: refused',
    processing_time: 1_750_000,
    average_processing_time: 583_333,
  });
  t.like(stats.endpoints[1], { num_requests: 0, num_errors: 0, last_error: '', processing_time: 0, average_processing_time: 0 });
});
