/**
 * The `dkv` CLI (DESIGN.md §4) as a user runs it: the real bin as a child process against a
 * 3-node cluster of real processes. Each scenario uses its own keys, so they may run in any order.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { TestCluster } from './harness/cluster.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
/** A CLI call starts a Node process, loads tsx and makes one request: seconds at most. */
const CLI_TIMEOUT_MS = 20_000;

let cluster: TestCluster;

test.before(async () => {
  cluster = await TestCluster.start({ nodes: 3 });
});

test.after.always(async () => {
  await cluster?.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `dkv ARGS`; `env` replaces the DKV_* variables (DKV_NATS_URL defaults to the test cluster). */
function dkv(args: string[], env: Record<string, string | undefined> = { DKV_NATS_URL: cluster.nats.url }): Promise<Run> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DKV_')));
  const merged = Object.fromEntries(Object.entries({ ...base, ...env }).filter(([, v]) => v !== undefined)) as NodeJS.ProcessEnv;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [BIN, ...args], { env: merged, timeout: CLI_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && (err as any).killed) return reject(new Error(`dkv ${args.join(' ')} did not finish in ${CLI_TIMEOUT_MS} ms: ${stderr}`));
      const code = err ? (typeof (err as any).code === 'number' ? (err as any).code : null) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

function contextLine(stdout: string): string {
  const m = /^context: (\S+)$/m.exec(stdout);
  if (!m) throw new Error(`no context line in ${JSON.stringify(stdout)}`);
  return m[1]!;
}

async function ok(args: string[], env?: Record<string, string | undefined>): Promise<string> {
  const r = await dkv(args, env);
  if (r.code !== 0) throw new Error(`dkv ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

test('cli - put, get --json, overwrite with the context, delete: the human and JSON outputs', async (t) => {
  const put = await ok(['put', 'cli-k', 'v']);
  t.regex(put, /^ok$/m);
  t.regex(contextLine(put), /^c[12]/);

  const got = JSON.parse(await ok(['get', 'cli-k', '--json']));
  t.is(got.key, 'cli-k');
  t.true(got.found);
  t.deepEqual(got.values, ['v']);
  t.is(typeof got.context, 'string');

  const put2 = await ok(['put', 'cli-k', 'v2', '--context', got.context]);
  t.regex(put2, /^ok$/m);

  const human = await ok(['get', 'cli-k']);
  t.deepEqual(
    human.trimEnd().split('\n').filter((l) => !l.startsWith('context: ')),
    ['v2'],
  );
  const ctx = contextLine(human);

  t.regex(await ok(['delete', 'cli-k', '--context', ctx]), /^ok$/m);
  const gone = JSON.parse(await ok(['get', 'cli-k', '--json']));
  t.false(gone.found);
  t.deepEqual(gone.values, []);
  t.is(typeof gone.context, 'string');

  const missing = await ok(['get', 'cli-k']);
  t.regex(missing, /\(not found\)/);
  t.regex(contextLine(missing), /^c[12]/);
});

test('cli - two puts without a context show as siblings in human output; put --json is the protocol reply', async (t) => {
  const first = JSON.parse(await ok(['put', 'cli-sib', 'a', '--json']));
  t.true(first.ok);
  t.is(typeof first.context, 'string');
  await ok(['put', 'cli-sib', 'b']);
  const human = await ok(['get', 'cli-sib']);
  const siblings = human.split('\n').filter((l) => l.startsWith('sibling '));
  t.is(siblings.length, 2, human);
  t.deepEqual(siblings.map((l) => /^sibling (\d+): /.exec(l)?.[1]), ['1', '2']);
  t.deepEqual(siblings.map((l) => l.replace(/^sibling \d+: /, '')).sort(), ['a', 'b']);

  // The context of the sibling read resolves both.
  await ok(['put', 'cli-sib', 'c', '--context', contextLine(human)]);
  t.deepEqual(JSON.parse(await ok(['get', 'cli-sib', '--json'])).values, ['c']);
});

test('cli - status --json lists n1..n3 up with their storage and sync mode; the human table names each node', async (t) => {
  const status = JSON.parse(await ok(['status', '--json']));
  t.is(status.cluster, 'local');
  t.deepEqual(
    status.members.map((m: any) => [m.node, m.state]).sort(),
    [
      ['n1', 'up'],
      ['n2', 'up'],
      ['n3', 'up'],
    ],
  );
  // The default durability: every lmdb write fsynced before it is acknowledged.
  t.deepEqual(status.members.map((m: any) => [m.storage, m.sync]), Array(3).fill(['lmdb', 'always']));
  const human = await ok(['status']);
  t.regex(human, /^cluster local /m);
  t.regex(human, /NODE\s+STATE/);
  for (const id of ['n1', 'n2', 'n3']) t.regex(human, new RegExp(`^${id}\\s+up\\b`, 'm'));
});

test('cli - bad input exits non-zero with "error (bad_request)" on stderr', async (t) => {
  const empty = await dkv(['get', '']);
  t.not(empty.code, 0);
  t.regex(empty.stderr, /error \(bad_request\)/);
  t.is(empty.stdout, '');

  const quorum = await dkv(['get', 'cli-any', '--r', '9']);
  t.not(quorum.code, 0);
  t.regex(quorum.stderr, /error \(bad_request\)/);

  // --json prints the protocol's error reply as is, and still exits non-zero.
  const json = await dkv(['put', 'cli-any', 'x', '--w', '9', '--json']);
  t.not(json.code, 0);
  t.is(JSON.parse(json.stdout).error.code, 'bad_request');
});

test('cli - node refuses a --sync mode or --sync-ms that does not exist, before starting anything', async (t) => {
  const mode = await dkv(['node', '--id', 'cli-x', '--members', 'cli-x', '--sync', 'sometimes']);
  t.not(mode.code, 0);
  t.regex(mode.stderr, /--sync <mode>.*sometimes.*always, periodic/s);
  const interval = await dkv(['node', '--id', 'cli-x', '--members', 'cli-x', '--sync', 'periodic', '--sync-ms', '0']);
  t.not(interval.code, 0);
  t.regex(interval.stderr, /--sync-ms must be a positive integer/);
});

test('cli - --nats works without the env var and wins over it; --cluster picks the subjects', async (t) => {
  const url = cluster.nats.url;
  t.regex(await ok(['put', 'cli-flag', 'via-flag', '--nats', url], {}), /^ok$/m);
  const got = JSON.parse(await ok(['get', 'cli-flag', '--json', '--nats', url], { DKV_NATS_URL: 'nats://127.0.0.1:1' }));
  t.deepEqual(got.values, ['via-flag']);

  // Nobody serves cluster "other" on this server: the client says so instead of waiting.
  const other = await dkv(['get', 'cli-flag'], { DKV_NATS_URL: url, DKV_CLUSTER: 'other' });
  t.not(other.code, 0);
  t.regex(other.stderr, /error \(unavailable\)/);
  const otherFlag = await dkv(['get', 'cli-flag', '--cluster', 'other', '--nats', url], {});
  t.regex(otherFlag.stderr, /error \(unavailable\)/);
});
