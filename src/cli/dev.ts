/**
 * `dkv dev`: the embedded default. A nats-server child on a free loopback port (unless --nats),
 * then N node processes with durable data under --data. It acts as their process manager: a
 * node that exits on its own (its supervisor gave up) is restarted after a pause. Ctrl-C stops
 * every child and waits for them, so nothing is left running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { recordCrash, restartBudget, type RestartBudget } from '../restartBudget.ts';
import { startDashboard, type DashboardHandle } from './dashboard.ts';
import { startNatsServer, type NatsServerHandle } from './natsServer.ts';
import type { SyncMode } from '../storage/lmdb.ts';
import { natsAuthArgs, type NatsAuth } from '../nats/connectOptions.ts';
import { formatLogLine, matchesEvents, parseLogLine } from './logFormat.ts';
import type { Readable } from 'node:stream';

/** The `dkv` executable, which each node process runs as `dkv node`. */
const BIN = fileURLToPath(new URL('../../actors/bin.mjs', import.meta.url));
const RESTART_PAUSE_MS = 1_000;
/** A node that exits more often than this is left down: restarting it again would only spin. */
const NODE_RESTARTS_MAX = 5;
const NODE_RESTART_WINDOW_MS = 60_000;

export interface DevOptions {
  nodes: number;
  data: string;
  nats?: string;
  cluster: string;
  storage: 'lmdb' | 'memory';
  sync?: SyncMode;
  /** With --nats: how the nodes authenticate to it (passed on to each node). */
  auth?: NatsAuth;
  /** Print every node's supervision decisions as they happen (src/cli/logFormat.ts). */
  followLogs?: boolean;
  /** Serve the dashboard (src/cli/dashboard.ts) on this loopback port too; 0 picks a free one. */
  dashboardPort?: number;
  /**
   * Each node serves Prometheus metrics over HTTP on loopback: node n<i> on this port + i - 1,
   * or each on a free port for 0. Dev prints every node's address once it listens.
   */
  metricsPort?: number;
}

export async function runDev(o: DevOptions): Promise<void> {
  if (!Number.isInteger(o.nodes) || o.nodes < 1 || o.nodes > 16) throw new Error(`--nodes must be 1..16, got ${o.nodes}`);
  if (o.metricsPort !== undefined && o.metricsPort !== 0 && o.metricsPort + o.nodes - 1 > 65_535) {
    throw new Error(`--metrics-port ${o.metricsPort} leaves no room for ${o.nodes} nodes (node n<i> listens on port + i - 1, at most 65535)`);
  }
  const dataDir = resolve(o.data);
  mkdirSync(dataDir, { recursive: true });
  let server: NatsServerHandle | undefined;
  if (!o.nats) server = await startNatsServer();
  const url = o.nats ?? server!.url;
  const ids = Array.from({ length: o.nodes }, (_, i) => `n${i + 1}`);
  const children = new Map<string, ChildProcess>();
  const budgets = new Map<string, RestartBudget>();
  let stopping = false;

  if (server) {
    const watch = (s: NatsServerHandle) =>
      s.process.once('exit', (code, signal) => {
        if (stopping) return;
        console.log(`nats-server exited (${signal ?? `code ${code}`}); restarting it on port ${s.port} (nodes reconnect by themselves)`);
        startNatsServer({ port: s.port }).then(
          (again) => {
            server = again;
            watch(again);
          },
          (err) => console.error(`could not restart nats-server: ${(err as Error).message}`),
        );
      });
    watch(server);
  }

  const launch = (id: string, index: number) => {
    const dir = join(dataDir, id);
    const metricsArgs = o.metricsPort === undefined ? [] : ['--metrics-port', String(o.metricsPort === 0 ? 0 : o.metricsPort + index), '--metrics-host', '127.0.0.1'];
    mkdirSync(dir, { recursive: true });
    const logPath = join(dir, 'node.log');
    const out = createWriteStream(logPath, { flags: 'a' });
    const child = spawn(process.execPath, [BIN, 'node', '--id', id, '--nats', url, '--cluster', o.cluster, '--data', dir, '--members', ids.join(','), '--storage', o.storage, '--sync', o.sync ?? 'always', ...metricsArgs, ...natsAuthArgs(o.auth ?? {})], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    child.stdout!.pipe(out);
    child.stderr!.pipe(out);
    if (o.followLogs || o.metricsPort !== undefined) followLines(child.stdout!, id, Boolean(o.followLogs), o.metricsPort !== undefined);
    children.set(id, child);
    child.once('exit', (code, signal) => {
      children.delete(id);
      if (stopping) return;
      if (code === 0) {
        // A node exits 0 only after `dkv leave` handed everything over: it is meant to stay down.
        console.log(`node ${id} left the cluster and stopped (log: ${logPath})`);
        return;
      }
      const { budget, exhausted } = recordCrash(budgets.get(id) ?? restartBudget(NODE_RESTARTS_MAX, NODE_RESTART_WINDOW_MS), Date.now());
      budgets.set(id, budget);
      if (exhausted) {
        console.log(`node ${id} exited (${signal ?? `code ${code}`}) ${budget.crashTimesMs.length} times within ${NODE_RESTART_WINDOW_MS / 1000} s; leaving it down (log: ${logPath})`);
        return;
      }
      console.log(`node ${id} exited (${signal ?? `code ${code}`}); restarting it in ${RESTART_PAUSE_MS} ms (log: ${logPath})`);
      setTimeout(() => !stopping && launch(id, index), RESTART_PAUSE_MS);
    });
    return logPath;
  };

  for (const [index, id] of ids.entries()) {
    const logPath = launch(id, index);
    console.log(`node ${id}: data ${join(dataDir, id)}, log ${logPath}`);
  }
  console.log(`NATS URL: ${url}`);
  console.log(`cluster: ${o.cluster}`);
  console.log(`try: DKV_NATS_URL=${url} npx dkv put hello world && DKV_NATS_URL=${url} npx dkv get hello`);
  console.log(`logs: npx dkv logs --data ${o.data} [--follow] [--events supervision]`);
  let dashboard: DashboardHandle | undefined;
  if (o.dashboardPort !== undefined) {
    dashboard = await startDashboard({ servers: url, cluster: o.cluster, ...(o.auth ? { auth: o.auth } : {}), port: o.dashboardPort });
    console.log(`dashboard: ${dashboard.url}`);
  } else {
    console.log(`dashboard: DKV_NATS_URL=${url} npx dkv dashboard${o.cluster !== 'local' ? ` --cluster ${o.cluster}` : ''} (then open http://127.0.0.1:8080/), or start dev with --dashboard-port 8080`);
  }
  console.log('Ctrl-C stops everything.');

  await new Promise<void>((done) => {
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      console.log(`${signal}: stopping ${children.size} node(s)${server ? ' and nats-server' : ''} ...`);
      await dashboard?.close();
      await Promise.all(
        [...children.values()].map(
          (c) =>
            new Promise<void>((res) => {
              if (c.exitCode !== null || c.signalCode !== null) return res();
              const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
              c.once('exit', () => {
                clearTimeout(t);
                res();
              });
              c.kill('SIGTERM');
            }),
        ),
      );
      await server?.stop();
      console.log('stopped.');
      done();
    };
    process.once('SIGINT', () => void stop('SIGINT'));
    process.once('SIGTERM', () => void stop('SIGTERM'));
  });
}

/**
 * What dev prints of a node's log lines as they come: its supervision decisions (`--follow-logs`,
 * src/cli/logFormat.ts) and where its metrics listen (`--metrics-port`), which a restarted node
 * says again.
 */
function followLines(stdout: Readable, id: string, decisions: boolean, metrics: boolean): void {
  let rest = '';
  stdout.on('data', (chunk: Buffer) => {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop()!;
    for (const text of parts) {
      const line = parseLogLine(text);
      if (line === undefined) continue;
      if (decisions && matchesEvents(line, ['supervision'])) console.log(formatLogLine(line));
      if (metrics && line.event === 'metrics-listening' && typeof line.msg === 'string') console.log(`node ${id}: ${line.msg}`);
    }
  });
}
