/**
 * `dkv dashboard`: one web page that shows a running cluster, refreshing by itself. It reads only
 * the public subjects (DESIGN.md §3): `status` and `ring` every POLL_MS, and each node's
 * `node.<ID>.metrics` when that subject answers (latency; without it, throughput comes from the
 * status counters alone). What it makes of them is in src/dashboardState.ts; the page itself
 * (src/cli/dashboard/) is static HTML and plain browser JS, and draws its charts with uPlot,
 * served from the package: nothing is built and nothing is fetched from the network.
 */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DkvClient } from '../client/client.ts';
import { DashboardHistory, displayState, ringSummary, type RingSummary } from '../dashboardState.ts';
import type { NatsAuth } from '../nats/connectOptions.ts';
import { isValidName, subjectsFor } from '../subjects.ts';

/** One poll of status, ring and metrics per this long (the next starts once one is done). */
export const POLL_MS = 1_000;
/** How long a poll waits for status and the ring (status itself waits 500 ms for a silent member). */
const STATUS_TIMEOUT_MS = 3_000;
/** How long a poll waits for a node's metrics; no reply (or no responders) means "no metrics". */
const METRICS_TIMEOUT_MS = 300;

const PAGE_DIR = fileURLToPath(new URL('./dashboard/', import.meta.url));
const UPLOT_DIST = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');

/** Every file the server hands out, read once at start: path → [content type, file]. */
const FILES: Record<string, [string, string]> = {
  '/': ['text/html; charset=utf-8', join(PAGE_DIR, 'index.html')],
  '/app.js': ['text/javascript; charset=utf-8', join(PAGE_DIR, 'app.js')],
  '/style.css': ['text/css; charset=utf-8', join(PAGE_DIR, 'style.css')],
  '/uplot.js': ['text/javascript; charset=utf-8', join(UPLOT_DIST, 'uPlot.iife.min.js')],
  '/uplot.css': ['text/css; charset=utf-8', join(UPLOT_DIST, 'uPlot.min.css')],
};

export interface DashboardOptions {
  readonly servers: string;
  readonly cluster: string;
  readonly auth?: NatsAuth;
  /** Loopback by default: the page shows the cluster's figures to whoever can reach it. */
  readonly host?: string;
  /** 0 picks a free port. */
  readonly port?: number;
}

export interface DashboardHandle {
  readonly url: string;
  close(): Promise<void>;
}


interface State {
  cluster: string;
  pollMs: number;
  polledAtMs: number | undefined;
  /** The latest status reply that was one, its members with `display` (up, down, joining, leaving). */
  status: any;
  statusAtMs: number | undefined;
  /** Why the latest poll got no status (the page then shows the previous one as stale). */
  statusError: string | undefined;
  ring: RingSummary | undefined;
  /** Nodes whose metrics subject answered at the latest poll. */
  metricsNodes: string[];
  history: ReturnType<DashboardHistory['points']>;
}

export async function startDashboard(o: DashboardOptions): Promise<DashboardHandle> {
  const files = new Map(Object.entries(FILES).map(([path, [type, file]]) => [path, { type, body: readFileSync(file) }]));
  const client = await DkvClient.connect({ servers: o.servers, cluster: o.cluster, ...(o.auth ? { auth: o.auth } : {}), timeoutMs: STATUS_TIMEOUT_MS });
  const history = new DashboardHistory();
  const state: State = { cluster: o.cluster, pollMs: POLL_MS, polledAtMs: undefined, status: undefined, statusAtMs: undefined, statusError: undefined, ring: undefined, metricsNodes: [], history: history.points() };
  const decoder = new TextDecoder();

  const ask = async (subject: string): Promise<any> => {
    const reply = await client.raw(subject, {});
    if (reply?.error) throw new Error(`${reply.error.code}: ${reply.error.message}`);
    return reply;
  };
  const metricsOf = async (node: string): Promise<string | undefined> => {
    try {
      const msg = await client.nc.request(subjectsFor(o.cluster).metrics(node), new Uint8Array(0), { timeout: METRICS_TIMEOUT_MS });
      const text = decoder.decode(msg.data);
      return text.trimStart().startsWith('{') ? undefined : text; // an error reply is JSON
    } catch {
      return undefined; // no responders (not served yet), a timeout, or refused by permissions
    }
  };

  const poll = async () => {
    const [status, ring] = await Promise.allSettled([ask(client.subjects.status), ask(client.subjects.ring)]);
    const atMs = Date.now();
    state.polledAtMs = atMs;
    if (status.status === 'fulfilled' && Array.isArray(status.value?.members)) {
      const members: any[] = status.value.members;
      const up = members.filter((m) => m?.state === 'up' && typeof m.node === 'string' && isValidName(m.node)).map((m) => m.node as string);
      const texts = await Promise.all(up.map(async (node) => [node, await metricsOf(node)] as const));
      const metrics = new Map(texts);
      history.record({ atMs, members, metrics });
      state.metricsNodes = texts.filter(([, text]) => text !== undefined).map(([node]) => node);
      state.status = { ...status.value, members: members.map((m) => ({ ...m, display: displayState(m) })) };
      state.statusAtMs = atMs;
      state.statusError = undefined;
    } else {
      state.statusError = status.status === 'rejected' ? String((status.reason as Error)?.message ?? status.reason) : 'the status reply has no members';
    }
    if (ring.status === 'fulfilled') {
      const { assignment, n, version } = ring.value ?? {};
      if (Array.isArray(assignment) && assignment.every((a) => typeof a === 'string') && Number.isInteger(n)) state.ring = ringSummary(assignment, n, version) ?? state.ring;
    }
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let polling: Promise<void> = Promise.resolve();
  const loop = () => {
    polling = poll()
      .catch(() => {}) // poll() records its failures in the state; nothing else can throw there
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, POLL_MS);
      });
  };
  loop();

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = new URL(req.url ?? '/', 'http://dashboard').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/api/state') {
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }).end(JSON.stringify(state));
      return;
    }
    const file = files.get(path === '/index.html' ? '/' : path);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : file.body);
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 8080, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/`;

  return {
    url,
    close: async () => {
      stopped = true;
      clearTimeout(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections(); // the browser's keep-alive connections
      await closed;
      await polling;
      await client.close();
    },
  };
}

/** The command: serves until SIGINT or SIGTERM. */
export async function runDashboard(o: DashboardOptions): Promise<void> {
  const dashboard = await startDashboard(o);
  console.log(`dashboard of cluster ${o.cluster} (NATS ${o.servers}): ${dashboard.url}`);
  await new Promise<void>((done) => {
    const stop = () => void dashboard.close().finally(done);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
