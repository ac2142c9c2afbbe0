import test from 'ava';
import { actorKind, outcomeIndex, quorumFailureReason, REQUEST_DURATION_BUCKETS_SECONDS, REQUEST_OUTCOMES } from '../src/metricLabels.ts';
import { DkvError, errorReply } from '../src/errors.ts';
import { parsePrometheus, total } from './harness/prometheus.ts';

test('metric labels - the actor kind comes from the path, bounded', (t) => {
  t.is(actorKind('dkv-n1://node/vnode-7'), 'vnode');
  t.is(actorKind('dkv-n1://node/gateway/coordinator-get-12'), 'coordinator');
  t.is(actorKind('dkv-n1://node/gateway/coordinator-delete-3'), 'coordinator');
  t.is(actorKind('dkv-n1://node/gateway'), 'gateway');
  t.is(actorKind('dkv-n1://node/anti-entropy'), 'anti-entropy');
  t.is(actorKind('dkv-n1://node/heartbeat'), 'heartbeat');
  t.is(actorKind('dkv-n1://node'), 'node');
  t.is(actorKind('dkv-n1://process'), 'process');
  t.is(actorKind('dkv-n1://node/outbox'), 'outbox');
  // A subscription's path ends with its subject: the kind is the subscription.
  t.is(actorKind('dkv-n1://node/nats/dkv.local.internal.n1.replica'), 'nats');
  t.is(actorKind(''), 'other');
  t.is(actorKind('dkv-n1://node/' + 'x'.repeat(100)), 'other');
  t.is(actorKind('dkv-n1://node/we ird'), 'other');
});

test('metric labels - an answer is counted under ok or its error code; failed quorums by reason', (t) => {
  t.is(REQUEST_OUTCOMES[outcomeIndex({ ok: true })], 'ok');
  t.is(REQUEST_OUTCOMES[outcomeIndex({ key: 'k', found: false, values: [] })], 'ok');
  for (const code of ['bad_request', 'too_large', 'unavailable', 'timeout', 'overloaded', 'conflict', 'internal'] as const) {
    t.is(REQUEST_OUTCOMES[outcomeIndex(errorReply(new DkvError(code, 'x')))], code);
  }
  t.is(REQUEST_OUTCOMES[outcomeIndex({ error: { code: 'made_up' } })], 'internal');
  t.is(quorumFailureReason(errorReply(new DkvError('unavailable', 'x'))), 'unavailable');
  t.is(quorumFailureReason(errorReply(new DkvError('timeout', 'x'))), 'timeout');
  t.is(quorumFailureReason(errorReply(new DkvError('overloaded', 'x'))), 'overloaded');
  t.is(quorumFailureReason(errorReply(new DkvError('internal', 'x'))), undefined);
  t.is(quorumFailureReason({ ok: true }), undefined);
});

test('metric labels - duration buckets span 0.1 ms to 5 s, increasing', (t) => {
  const b = REQUEST_DURATION_BUCKETS_SECONDS;
  t.is(b[0], 0.0001);
  t.is(b[b.length - 1], 5);
  for (let i = 1; i < b.length; i++) t.true(b[i]! > b[i - 1]!);
});

test('prometheus text - the test parser reads labels, escapes and special values', (t) => {
  const samples = parsePrometheus(['# HELP x help', '# TYPE x counter', 'x{a="1",b="q\\"uote"} 3', 'x{a="2"} 4', 'y 5', 'h_bucket{le="+Inf"} +Inf', ''].join('\n'));
  t.is(total(samples, 'x'), 7);
  t.is(total(samples, 'x', { b: 'q"uote' }), 3);
  t.is(total(samples, 'y'), 5);
  t.is(total(samples, 'h_bucket', { le: '+Inf' }), Infinity);
  t.throws(() => parsePrometheus('not a line at all {'));
});
