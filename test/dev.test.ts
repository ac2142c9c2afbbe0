/**
 * `dkv dev` (DESIGN.md §4) as a process manager: it starts a nats-server and three nodes, keeps
 * them running (a killed node comes back on the same data), and Ctrl-C (SIGINT) stops everything
 * it started, leaving no process behind.
 */
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DkvClient } from '../src/client/client.ts';
import { canConnect } from '../src/cli/natsServer.ts';
import { waitFor } from './harness/wait.ts';

const BIN = fileURLToPath(new URL('../actors/bin.mjs', import.meta.url));
const TEST_TIMEOUT_MS = 120_000;
const NODE_IDS = ['n1', 'n2', 'n3'];

interface Dev {
  child: ChildProcess;
  dir: string;
  url: string;
  port: number;
  /** Everything dev printed on stdout so far. */
  output(): string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Every pid ever seen below the dev process (children and their children), for the final check. */
  seen: Set<number>;
}

/** Direct children of `pid` with their command lines. */
function childrenOf(pid: number): { pid: number; args: string }[] {
  let out = '';
  try {
    out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // ps exits 1 when there is no such child
  }
  return out
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ pid: Number(m[1]), args: m[2]! }));
}

function descendantsOf(pid: number): { pid: number; args: string }[] {
  const found: { pid: number; args: string }[] = [];
  const queue = [pid];
  // The tree is dev -> nats-server, nodes -> helper processes: a handful of pids, bounded anyway.
  while (queue.length > 0 && found.length < 1000) {
    for (const c of childrenOf(queue.shift()!)) {
      found.push(c);
      queue.push(c.pid);
    }
  }
  return found;
}

/** The pid of the `dkv node --id ID` child of dev, if one is running. */
function nodePid(dev: Dev, id: string): number | undefined {
  const found = childrenOf(dev.child.pid!).find((c) => / node --id /.test(c.args) && c.args.includes(` --id ${id} `));
  if (found) dev.seen.add(found.pid);
  return found?.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

async function startDev(t: ExecutionContext, extraArgs: readonly string[] = []): Promise<Dev> {
  const dir = mkdtempSync(join(tmpdir(), 'dkv-dev-test-'));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('DKV_')));
  // Its own process group, so that the teardown can reach everything if an assertion fails.
  const child = spawn(process.execPath, [BIN, 'dev', '--nodes', '3', '--data', dir, ...extraArgs], { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const seen = new Set<number>();
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    for (const pid of seen) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone: the expected case.
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const m = await waitFor('dev to print the NATS URL and the cluster name', () => {
    if (child.exitCode !== null) throw new Error(`dkv dev exited with ${child.exitCode}: ${stderr}`);
    const url = /^NATS URL: (nats:\/\/127\.0\.0\.1:(\d+))$/m.exec(stdout);
    return url && /^cluster: local$/m.test(stdout) ? url : undefined;
  }, { timeoutMs: 15_000 });
  for (const c of descendantsOf(child.pid!)) seen.add(c.pid);
  return { child, dir, url: m[1]!, port: Number(m[2]), output: () => stdout, exit, seen };
}

/** The last lines of each node's log under dev, for a failure message. */
function nodeLogTails(dev: Dev): string {
  return NODE_IDS.map((id) => {
    let text = '';
    try {
      text = readFileSync(join(dev.dir, id, 'node.log'), 'utf8');
    } catch (err) {
      text = `(no log: ${(err as Error).message})`;
    }
    return `--- ${id}/node.log (last lines)\n${text.split('\n').slice(-8).join('\n')}`;
  }).join('\n');
}

/**
 * The nodes start in the background: the first requests may find no responder or no quorum.
 * The deadline is generous because a loaded CI machine runs other clusters' tests beside this
 * one; polling costs nothing when the nodes are quick. On a timeout, what dev and its nodes
 * printed goes with the error.
 */
async function whenAllUp(client: DkvClient, dev: Dev): Promise<void> {
  try {
    await waitFor('every node to answer status as up', async () => {
      const s = await client.status();
      return NODE_IDS.every((id) => s.members.some((m: any) => m.node === id && m.state === 'up'));
    }, { timeoutMs: 45_000, intervalMs: 100 });
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- dev output\n${dev.output()}\n${nodeLogTails(dev)}`);
  }
}

/**
 * SIGINT: dev stops its nodes and nats-server, exits 0, and leaves no process behind. `group`
 * sends it to the whole process group, as Ctrl-C in a terminal does, so the children get it too.
 */
async function interruptAndCheck(t: ExecutionContext, dev: Dev, how: 'dev only' | 'group'): Promise<void> {
  for (const c of descendantsOf(dev.child.pid!)) dev.seen.add(c.pid);
  const children = childrenOf(dev.child.pid!);
  t.true(children.some((c) => /nats-server/.test(c.args)), 'dev runs a nats-server child');
  t.is(children.filter((c) => / node --id /.test(c.args)).length, 3, 'dev runs three dkv node children');

  if (how === 'group') process.kill(-dev.child.pid!, 'SIGINT');
  else dev.child.kill('SIGINT');
  const { code, signal } = await dev.exit;
  t.is(signal, null);
  t.is(code, 0, dev.output());
  // 'exit' can come before the last of the output has been read from the pipe.
  await waitFor('dev to have printed "stopped."', () => /stopped\./.test(dev.output()), { timeoutMs: 5_000, intervalMs: 20 }).catch(() => undefined);
  t.regex(dev.output(), /stopped\./);
  t.false(await canConnect(dev.port), 'the nats-server port no longer accepts connections');
  // dev waited for its children, so they are gone now; their own helpers follow them shortly.
  // tsx's esbuild service is dev's child too, but it exits on its own after dev: the wait below covers it.
  for (const c of children.filter((x) => !/esbuild/.test(x.args))) t.false(alive(c.pid), `child ${c.pid} (${c.args}) is gone`);
  await waitFor('every process dev started to be gone', () => [...dev.seen].every((pid) => !alive(pid)), { timeoutMs: 5_000 });
}

test('dev - starts nats-server and three durable nodes, serves requests, and SIGINT stops everything', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  // With --metrics-port 0 each node takes a free port, and dev prints where.
  const dev = await startDev(t, ['--metrics-port', '0']);
  const client = await DkvClient.connect({ servers: dev.url, cluster: 'local', timeoutMs: 5_000 });
  try {
    await whenAllUp(client, dev);
    const put = await client.put('dev-key', 'dev-value');
    t.true(put.ok);
    const got = await client.get('dev-key');
    t.deepEqual(got.values, ['dev-value']);

    const addresses = await waitFor('dev to print every node\'s metrics address', () => {
      const found = NODE_IDS.map((id) => new RegExp(`^node ${id}: metrics at (http://127\\.0\\.0\\.1:\\d+/metrics)$`, 'm').exec(dev.output())?.[1]);
      return found.every((u) => u !== undefined) ? (found as string[]) : undefined;
    }, { timeoutMs: 15_000 });
    t.is(new Set(addresses).size, 3, 'each node listens on a port of its own');
    for (const [i, url] of addresses.entries()) {
      const text = await (await fetch(url)).text();
      // The coordinator of the put above counted it; every node exports the same families.
      t.regex(text, /^# TYPE dkv_requests_total counter$/m, `${NODE_IDS[i]} serves its metrics at ${url}`);
    }
  } finally {
    await client.close();
  }

  for (const id of NODE_IDS) {
    const store = join(dev.dir, id, 'store');
    t.true(existsSync(store), `${id} has a data directory`);
    t.true(readdirSync(store).some((f) => f.endsWith('.mdb')), `${id} holds lmdb files`);
  }

  await interruptAndCheck(t, dev, 'dev only');
});

test('dev - a node killed with SIGKILL is restarted on the same data; Ctrl-C of the whole group still stops cleanly', async (t) => {
  t.timeout(TEST_TIMEOUT_MS);
  const dev = await startDev(t);
  const client = await DkvClient.connect({ servers: dev.url, cluster: 'local', timeoutMs: 5_000 });
  try {
    await whenAllUp(client, dev);
    await client.put('before-kill', 'kept', { w: 3 });

    const victim = nodePid(dev, 'n2');
    t.truthy(victim, 'n2 runs under dev');
    process.kill(victim!, 'SIGKILL');
    await waitFor('dev to report the restart', () => /node n2 exited \(SIGKILL\); restarting/.test(dev.output()), { timeoutMs: 10_000 });
    const replacement = await waitFor('a new n2 process', () => {
      const pid = nodePid(dev, 'n2');
      return pid !== undefined && pid !== victim ? pid : undefined;
    }, { timeoutMs: 10_000 });
    t.not(replacement, victim);

    await whenAllUp(client, dev);
    // n2's own replica, read without a quorum: the restarted node came back on its lmdb data.
    t.deepEqual((await client.peek('n2', 'before-kill')).values, ['kept']);
    // w=3 needs every replica, n2 included, to acknowledge.
    t.true((await client.put('after-restart', 'served', { w: 3 })).ok);
    t.deepEqual((await client.get('after-restart', { r: 3 })).values, ['served']);
  } finally {
    await client.close();
  }

  // This time as a terminal's Ctrl-C: every process of the group gets SIGINT at once.
  await interruptAndCheck(t, dev, 'group');
});
