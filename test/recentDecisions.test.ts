/** The latest supervision decisions a node keeps for its status figures (actors/supervision.ts). */
import test from 'ava';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { keepDecisions, logDecision, RECENT_DECISIONS_MAX, RecentDecisions } from '../actors/supervision.ts';

const quiet = () => pino({ level: 'info' }, new Writable({ write: (_c, _e, done) => done() }));

test('recent decisions - every decision logged through the node logger is kept, newest last, bounded', (t) => {
  const log = quiet();
  let nowMs = Date.parse('2026-01-01T00:00:00Z');
  const recent = new RecentDecisions(() => nowMs);
  keepDecisions(log, recent);
  logDecision(log, 'dkv-n1://node/vnode-3', new Error('boom'), 'reset');
  nowMs += 1_000;
  logDecision(log, 'dkv-n1://node/transfer', 'plain reason', 'escalate');
  t.deepEqual(recent.list(), [
    { at: '2026-01-01T00:00:00.000Z', actor: 'dkv-n1://node/vnode-3', decision: 'reset', reason: 'boom' },
    { at: '2026-01-01T00:00:01.000Z', actor: 'dkv-n1://node/transfer', decision: 'escalate', reason: 'plain reason' },
  ]);
  for (let i = 0; i < RECENT_DECISIONS_MAX + 5; i++) logDecision(log, `a${i}`, new Error('x'.repeat(500)), 'resume');
  const list = recent.list();
  t.is(list.length, RECENT_DECISIONS_MAX);
  t.is(list.at(-1)!.actor, `a${RECENT_DECISIONS_MAX + 4}`);
  t.is(list[0]!.reason.length, 200);
});

test('recent decisions - another logger (another node) keeps its own, or none', (t) => {
  const a = quiet();
  const b = quiet();
  const recent = new RecentDecisions(() => 0);
  keepDecisions(a, recent);
  logDecision(b, 'dkv-n2://node/x', new Error('not mine'), 'resume');
  t.deepEqual(recent.list(), []);
});
