/**
 * The benchmark harness end to end, small: `npm run bench` with a few hundred operations against
 * real clusters, this checkout's and HEAD's (`--baseline`). It measures nothing here; it checks
 * that the harness runs, checks every reply (errors would fail it), runs the nodes with the sync
 * mode it says, pairs the baseline by round and removes the baseline's worktree afterwards.
 */
import test from 'ava';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

/** `--baseline` needs this checkout to be a git repository (CI runs on a clone, so it is). */
function inGitCheckout(): boolean {
  try {
    execFileSync('git', ['-C', ROOT, 'rev-parse', '--verify', 'HEAD'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('bench - a quick run with a baseline: every reply checked, sync mode as stated, paired lines, no worktree left', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'dkv-bench-smoke-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const git = inGitCheckout();
  if (!git) t.log('not a git checkout: --baseline is not exercised');
  const args = ['--import', 'tsx', 'bench/run.ts', '--quick', '--workloads', 'A', '--targets', 'dkv,dkv-client', '--keys', '200', '--ops', '500', '--warmup-ops', '0', '--no-progress', '--out', out, '--data-dir', out, ...(git ? ['--baseline', 'HEAD'] : [])];
  const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 150_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? null) : 0, stdout, stderr }));
  });
  t.is(run.code, 0, run.stderr + run.stdout);
  t.regex(run.stdout, /lmdb sync=periodic/);
  for (const target of ['dkv', 'dkv-client', ...(git ? ['dkv@base', 'dkv-client@base'] : [])]) {
    // workload, target, then ops/s ... errors column "0".
    const row = run.stdout.split('\n').find((l) => new RegExp(`^A\\s+${target.replace(/[.@-]/g, '\\$&')}\\s+\\d+\\s`).test(l));
    t.truthy(row, `a row for ${target}`);
    t.regex(row ?? '', /\s0\s+\d+%/, `no errors for ${target}`);
  }
  if (git) t.regex(run.stdout, /workload A: dkv-client \/ dkv-client@base, paired by round: throughput \d+\.\d\dx \(rounds \d+\.\d\d\)/);

  const json = JSON.parse(readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.json'))!), 'utf8'));
  const described = json.suites[0].targets.map((x: { name: string; description: string }) => `${x.name}: ${x.description}`);
  t.true(described.some((d: string) => /^dkv-client: .*lmdb storage \(sync periodic\)/.test(d)), described.join('\n'));
  if (!git) return;
  t.true(described.some((d: string) => /^dkv-client@base: .*nodes from .*dkv-baseline-/.test(d)), described.join('\n'));
  // The worktree is gone once the harness has exited.
  const worktrees = execFileSync('git', ['-C', ROOT, 'worktree', 'list'], { encoding: 'utf8' });
  t.notRegex(worktrees, /dkv-baseline-/);
});

test('bench - the replication floor answers every operation right, bare and with all of dkv\'s parts, through the client library and the protocol', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'dkv-bench-floor-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  for (const features of ['', 'dvv,parse,merkle,engine,feed']) {
    // With the parts, a second floor of other parts runs too, set against the first round by round.
    const second = features ? ['--floor2-features', 'dvv,feed'] : [];
    const targets = ['replication-floor', 'replication-floor-protocol', ...(features ? ['replication-floor-protocol-2'] : [])];
    const args = ['--import', 'tsx', 'bench/run.ts', '--quick', '--workloads', 'A', '--targets', targets.join(','), '--keys', '200', '--ops', '500', '--warmup-ops', '0', '--no-progress', '--out', out, '--data-dir', out, ...(features ? ['--floor-features', features] : []), ...second];
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) => resolve({ code: err ? ((err as any).code ?? null) : 0, stdout, stderr }));
    });
    t.is(run.code, 0, run.stderr + run.stdout);
    // The harness checks each reply (values, contexts, misses of preloaded keys): no error counted.
    for (const target of targets) {
      const row = run.stdout.split('\n').find((l) => new RegExp(`^A\\s+${target}\\s+\\d+\\s`).test(l));
      t.truthy(row, `a row for ${target} (${features || 'bare'})`);
      t.regex(row ?? '', /\s0\s+\d+%/, `no errors for ${target} (${features || 'bare'})`);
    }
    t.notRegex(run.stdout, /ERROR REPLIES|BROKE/);
    if (features) t.regex(run.stdout, /workload A: replication-floor-protocol-2 \/ replication-floor-protocol, paired by round: throughput \d+\.\d\dx/);
  }
  const described = readdirSync(out).filter((f) => f.endsWith('.json')).flatMap((f) => JSON.parse(readFileSync(join(out, f), 'utf8')).suites[0].targets.map((x: { description: string }) => x.description as string));
  t.true(described.some((d) => /client library; last writer wins/.test(d)), described.join('\n'));
  t.true(described.some((d) => /JSON request\/reply; with dkv's dvv, parse, merkle, engine, feed/.test(d)), described.join('\n'));
  t.true(described.some((d) => /^second replication floor: .*JSON request\/reply; with dkv's dvv, feed/.test(d)), described.join('\n'));
});

test('bench - parts for a second floor that is not run are refused before anything starts', async (t) => {
  const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--targets', 'echo', '--floor2-features', 'dvv', '--no-progress'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as any).code ?? null) : 0, stderr }));
  });
  t.not(run.code, 0);
  t.regex(run.stderr, /--floor2-features: add replication-floor-protocol-2 to --targets/);
});

test('bench - --cpu-prof with no target it profiles is refused before anything starts, and leaves no profile directory', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'dkv-bench-prof-'));
  try {
    const run = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'bench/run.ts', '--quick', '--targets', 'echo', '--cpu-prof', '--out', out, '--no-progress'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as any).code ?? null) : 0, stderr }));
    });
    t.not(run.code, 0);
    t.regex(run.stderr, /--cpu-prof: none of --targets is profiled/);
    t.deepEqual(readdirSync(out), []);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
