/**
 * Readable supervision logs: the formatter on a real supervision line, `dkv logs` on log files
 * (merged in time order, filtered, raw with --json, followed), and, end to end, a vnode crash
 * injected into a `dkv dev` cluster that `dev --follow-logs` and `dkv logs` both print as one
 * human line with the actor path, the decision and the reason.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { logDecision } from '../actors/supervision.ts';
import { DkvClient } from '../src/client/client.ts';
import { formatLogLine, matchesEvents, parseLogLine } from '../src/cli/logFormat.ts';
import { runLogs } from '../src/cli/logs.ts';
import { waitFor } from './harness/wait.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
const DECISION_LINE = /^\d\d:\d\d:\d\d\.\d{3} n1 +WARN +dkv-n1:\/\/node\/vnode-\d+ reset: injected vnode fault \(partition \d+\) \(crash 1 of 10 in 10 s\)$/;

/** What logDecision writes for a vnode reset, as the node's logger would write it. */
function decisionLine(): string {
  let text = '';
  const log = pino({ base: { node: 'n1' } }, new Writable({ write: (c, _e, done) => ((text += String(c)), done()) }));
  logDecision(log, 'dkv-n1://node/vnode-7', new Error('injected vnode fault (partition 7)'), 'reset', { crashesInWindow: 1, restartsMax: 10, windowMs: 10_000 });
  return text.trim();
}

function tempDir(t: ExecutionContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-logs-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('logs - a supervision line reads as one line: time, node, level, actor path, decision, reason, crash count', (t) => {
  const line = parseLogLine(decisionLine())!;
  t.truthy(line);
  const text = formatLogLine(line);
  t.regex(text, DECISION_LINE);
  t.false(text.includes('\n'));
  t.true(matchesEvents(line, ['supervision']));
  t.false(matchesEvents(line, ['peer-status']));
  t.true(matchesEvents(line, undefined));
  t.is(parseLogLine('    at Object.<anonymous> (file.js:1:1)'), undefined);
  t.regex(formatLogLine({ time: 0, level: 40, node: 'n2', event: 'peer-status', msg: 'peer n3 is down (no-responders)' }), /^00:00:00\.000 n2 +WARN +peer-status: peer n3 is down \(no-responders\)$/);
});

test('logs - dkv logs merges the nodes in time order, filters events, keeps raw lines with --json, and follows', async (t) => {
  const dir = tempDir(t);
  for (const n of ['n1', 'n2']) mkdirSync(join(dir, n));
  const at = (ms: number, node: string, event: string, msg: string) => JSON.stringify({ level: 30, time: ms, node, event, msg });
  writeFileSync(join(dir, 'n1', 'node.log'), [at(1000, 'n1', 'node-started', 'n1 serving'), at(3000, 'n1', 'peer-status', 'peer n2 is down'), ''].join('\n'));
  writeFileSync(join(dir, 'n2', 'node.log'), [at(2000, 'n2', 'node-started', 'n2 serving'), 'not json: a stray print', ''].join('\n'));

  const lines: string[] = [];
  await runLogs({ data: dir, follow: false, json: false, print: (l) => lines.push(l) });
  t.deepEqual(
    lines.filter((l) => /serving|down/.test(l)).map((l) => l.slice(13, 15)),
    ['n1', 'n2', 'n1'],
    'in time order across the nodes',
  );
  t.true(lines.some((l) => l.includes('not json: a stray print')), 'a line that is not JSON is kept as it is');

  const only: string[] = [];
  await runLogs({ data: dir, follow: false, json: true, events: ['peer-status'], print: (l) => only.push(l) });
  t.deepEqual(only, [at(3000, 'n1', 'peer-status', 'peer n2 is down')]);

  const one: string[] = [];
  await runLogs({ data: dir, node: 'n2', follow: false, json: false, print: (l) => one.push(l) });
  t.true(one.every((l) => !l.includes(' n1 ')), 'only n2');
  await t.throwsAsync(runLogs({ data: dir, node: 'n9', follow: false, json: false, print: () => {} }), { message: /no log of node n9/ });

  // --follow prints what is appended, a line split over two writes once it is whole.
  const followed: string[] = [];
  const controller = new AbortController();
  const running = runLogs({ data: dir, follow: true, json: false, events: ['supervision'], print: (l) => followed.push(l), signal: controller.signal });
  const line = decisionLine();
  appendFileSync(join(dir, 'n1', 'node.log'), line.slice(0, 40));
  appendFileSync(join(dir, 'n1', 'node.log'), `${line.slice(40)}\n`);
  await waitFor('the followed decision', () => (followed.length > 0 ? true : undefined), { timeoutMs: 5_000 });
  controller.abort();
  await running;
  t.is(followed.length, 1);
  t.regex(followed[0]!, DECISION_LINE);
});

test('logs - a vnode crash injected into dkv dev reads as one human line in dev --follow-logs and in dkv logs', async (t) => {
  t.timeout(120_000);
  const dir = tempDir(t);
  const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DKV_'))), DKV_FAULTS: '1' };
  const dev = spawn(process.execPath, [BIN, 'dev', '--nodes', '3', '--data', dir, '--storage', 'memory', '--follow-logs'], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  dev.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  t.teardown(() => {
    try {
      process.kill(-dev.pid!, 'SIGKILL');
    } catch {
      // Already gone.
    }
  });
  const url = await waitFor('dev to print the NATS URL', () => /^NATS URL: (nats:\/\/\S+)$/m.exec(stdout)?.[1], { timeoutMs: 20_000 });
  const client = await DkvClient.connect({ servers: url, timeoutMs: 5_000 });
  t.teardown(() => client.close());
  await waitFor('every node up', async () => {
    const s = await client.status().catch(() => undefined);
    return s?.members?.length === 3 && s.members.every((m: any) => m.state === 'up') ? true : undefined;
  }, { timeoutMs: 60_000, intervalMs: 200 });

  const armed = await client.raw('dkv.local.internal.n1.fault', { vnodeCrashes: 1 });
  t.true(armed.ok, JSON.stringify(armed));
  // Every write reaches n1's vnodes (N=3 of 3): the next one crashes one of them.
  for (let i = 0; !/vnode-\d+ reset/.test(stdout) && i < 20; i++) await client.put(`crash-${i}`, 'v', { w: 2 }).catch(() => undefined);
  const printed = await waitFor('dev to print the decision', () => stdout.split('\n').find((l) => / dkv-n1:\/\/node\/vnode-\d+ reset: /.test(l)), { timeoutMs: 20_000 });
  t.regex(printed, /^\d\d:\d\d:\d\d\.\d{3} n1 +WARN +dkv-n1:\/\/node\/vnode-\d+ reset: injected vnode fault \(partition \d+\) \(crash 1 of 10 in 10 s\)$/);

  const out = execFileSync(process.execPath, [BIN, 'logs', '--data', dir, '--events', 'supervision'], { encoding: 'utf8', timeout: 30_000 });
  const lines = out.trim().split('\n');
  t.is(lines.length, 1, out);
  t.is(lines[0], printed);
  const raw = execFileSync(process.execPath, [BIN, 'logs', '--data', dir, '--node', 'n1', '--events', 'supervision', '--json'], { encoding: 'utf8', timeout: 30_000 });
  const json = JSON.parse(raw.trim());
  t.is(json.decision, 'reset');
  t.regex(json.actor, /^dkv-n1:\/\/node\/vnode-\d+$/);

  dev.kill('SIGINT');
  await waitFor('dev to stop', () => (stdout.includes('stopped.') ? true : undefined), { timeoutMs: 30_000 });
});
