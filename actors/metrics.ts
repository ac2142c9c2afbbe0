/**
 * A node's Prometheus metrics (docs/operations.md "Metrics"): one prom-client Registry per node,
 * never the global one, since several nodes can run in one process (the simulation, test/sim/).
 *
 * Most figures already exist for `status` (the coordinators' counters, the hint backlog, the
 * transfers, anti-entropy, admission, the NATS connection): they are read when a scrape asks,
 * through collect() callbacks, so they cost the data path nothing and agree with `status`
 * exactly. On the request path only what has no figure yet is counted: each client operation's
 * outcome (a plain array, read at scrape time) and duration, a failed quorum's reason, and a
 * read's siblings. Supervision decisions come from logDecision (actors/supervision.ts).
 *
 * Served at `http://H:P/metrics` when the node is given a port, and on
 * `dkv.<cluster>.node.<ID>.metrics` always.
 */
import { createServer, type Server } from 'node:http';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Admission } from '../src/admission.ts';
import { actorKind, quorumFailureReason, REQUEST_DURATION_BUCKETS_SECONDS, REQUEST_OPS, REQUEST_OUTCOMES, outcomeIndex, type RequestOp } from '../src/metricLabels.ts';
import type { StorageEngine } from '../src/storage/engine.ts';
import type { AntiEntropy } from './antiEntropy.ts';
import type { CoordinatorCounters } from './coordinatorCounters.ts';
import type { Foreground } from './foreground.ts';
import type { HandoffFigures } from './handoff.ts';
import type { Health } from './health.ts';
import type { NatsFigures } from './status.ts';
import type { PartitionTableFile } from './store.ts';
import type { Subscribe } from './subscriptions.ts';
import { onDecisions } from './supervision.ts';
import type { Transfer } from './transfer.ts';

/** What the gateway and the coordinators tell the metrics, on the request path. */
export interface RequestMetrics {
  /** A client operation answered with `body`, `ms` (monotonic) after it arrived. */
  answered(op: RequestOp, body: object, ms: number): void;
  /** A coordinator's error answer: counted when it says the quorum was not reached. */
  failed(body: object): void;
  /** A read answered with this many values (siblings; 0: not found). */
  read(values: number): void;
}

/** The figures read at scrape time: the node's parts, once spawned. */
export interface NodeFigureSources {
  readonly counters: CoordinatorCounters;
  readonly handoff: { readonly figures: HandoffFigures };
  readonly partitions: PartitionTableFile;
  readonly transfer: Pick<Transfer, 'figures'>;
  readonly antiEntropy: Pick<AntiEntropy, 'figures'>;
  readonly health: Pick<Health, 'transitions'>;
  readonly natsFigures: NatsFigures;
  readonly foreground: Pick<Foreground, 'figures'>;
  readonly storage: Pick<StorageEngine<unknown>, 'footprint'>;
  readonly admitted: Admission;
  replicaFigures(): { replicaOpsRefused: number };
  /** Key listings coordinated here (actors/keyListing.ts) and scans served (actors/keyScan.ts). */
  keyListing(): { listings: number; unavailable: number; scans: number; entriesScanned: number; overloaded: number };
}

export interface NodeMetrics {
  readonly registry: Registry;
  readonly requests: RequestMetrics;
  /** Registers the figures read at scrape time, once the node's parts exist. */
  observe(sources: NodeFigureSources): void;
  /** The Prometheus text exposition. */
  text(): Promise<string>;
  /** Stops listening to supervision decisions. */
  close(): void;
}

const OUTCOMES = REQUEST_OUTCOMES.length;

/** A counter whose value is read from a figure at scrape time. */
function figureCounter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

function figureGauge(registry: Registry, name: string, help: string, read: () => number): void {
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}

export function nodeMetrics(log: Logger): NodeMetrics {
  const registry = new Registry();
  const r = [registry];

  // Answered operations by op and outcome: a plain array on the request path, read at scrape time.
  const answeredCounts = new Float64Array(REQUEST_OPS.length * OUTCOMES);
  const opIndex = new Map<string, number>(REQUEST_OPS.map((op, i) => [op, i]));
  new Counter({
    name: 'dkv_requests_total',
    help: 'Client operations answered by this node (gateway), by op and outcome: ok or the error code. A batch counts once as op="batch" (ok when answered with results), and each of its operations under its own op.',
    labelNames: ['op', 'outcome'],
    registers: r,
    collect() {
      this.reset();
      REQUEST_OPS.forEach((op, i) => REQUEST_OUTCOMES.forEach((outcome, j) => this.inc({ op, outcome }, answeredCounts[i * OUTCOMES + j]!)));
    },
  });
  const duration = new Histogram({
    name: 'dkv_request_duration_seconds',
    help: 'Time from a client operation reaching the gateway to its answer, by op (every outcome; a batch until its last answer).',
    labelNames: ['op'],
    buckets: [...REQUEST_DURATION_BUCKETS_SECONDS],
    registers: r,
  });
  const opLabels = REQUEST_OPS.map((op) => ({ op }));
  for (const labels of opLabels) duration.zero(labels);

  const quorumFailures = new Counter({ name: 'dkv_quorum_failures_total', help: 'Requests this node coordinated whose quorum was not reached, by reason (unavailable: too few replicas answered; timeout: the deadline passed; overloaded: replicas refused as busy).', labelNames: ['reason'], registers: r });
  for (const reason of ['unavailable', 'timeout', 'overloaded']) quorumFailures.inc({ reason }, 0);
  const siblings = new Histogram({ name: 'dkv_read_siblings', help: 'Values (concurrent versions) per read this node coordinated; 0 for not found.', buckets: [0, 1, 2, 3, 5, 10, 20], registers: r });
  const decisions = new Counter({ name: 'dkv_supervision_decisions_total', help: 'Supervision decisions, by kind of actor (from its path: vnode, coordinator, gateway...) and decision (resume, reset, stop, escalate, exit).', labelNames: ['kind', 'decision'], registers: r });
  const stopListening = onDecisions(log, (path, decision) => decisions.inc({ kind: actorKind(path), decision }));

  const requests: RequestMetrics = {
    answered(op, body, ms) {
      const i = opIndex.get(op)!;
      const k = i * OUTCOMES + outcomeIndex(body);
      answeredCounts[k] = answeredCounts[k]! + 1;
      duration.observe(opLabels[i]!, ms / 1000);
    },
    failed(body) {
      const reason = quorumFailureReason(body);
      if (reason !== undefined) quorumFailures.inc({ reason });
    },
    read(values) {
      siblings.observe(values);
    },
  };

  const observe = (x: NodeFigureSources) => {
    figureCounter(registry, 'dkv_read_repairs_total', 'Replicas a read found stale and sent the reconciled version to (read repair).', () => x.counters.readRepairs);
    figureGauge(registry, 'dkv_hints', 'Hinted copies this node holds for unreachable owners.', () => x.handoff.figures.hints);
    figureGauge(registry, 'dkv_hint_bytes', 'Estimated bytes of the hinted copies this node holds.', () => x.handoff.figures.hintBytes);
    figureCounter(registry, 'dkv_hint_deliveries_total', 'Hinted copies delivered to their owner (hinted handoff).', () => x.handoff.figures.delivered);
    figureCounter(registry, 'dkv_hint_delivery_failures_total', 'Hint deliveries that failed (retried later).', () => x.handoff.figures.deliveryFailures);
    new Gauge({
      name: 'dkv_transfers_in_progress',
      help: 'Partitions this node is receiving or giving away (partition transfers).',
      labelNames: ['direction'],
      registers: r,
      collect() {
        let receiving = 0;
        let giving = 0;
        for (const h of x.partitions.table) {
          if (h.state === 'receiving') receiving++;
          else if (h.state === 'giving') giving++;
        }
        this.set({ direction: 'receiving' }, receiving);
        this.set({ direction: 'giving' }, giving);
      },
    });
    figureCounter(registry, 'dkv_transfer_keys_total', 'Keys received by partition transfers onto this node.', () => x.transfer.figures.keysReceived);
    figureCounter(registry, 'dkv_anti_entropy_exchanges_total', 'Anti-entropy (Merkle tree) exchanges this node started.', () => x.antiEntropy.figures.exchanges);
    figureCounter(registry, 'dkv_anti_entropy_keys_repaired_total', 'Keys anti-entropy repaired on this node.', () => x.antiEntropy.figures.keysRepaired);
    new Counter({
      name: 'dkv_peer_transitions_total',
      help: "Peers' status flips in this node's failure detector, by the status flipped to (up, down).",
      labelNames: ['to'],
      registers: r,
      collect() {
        this.reset();
        this.inc({ to: 'up' }, x.health.transitions.up);
        this.inc({ to: 'down' }, x.health.transitions.down);
      },
    });
    figureCounter(registry, 'dkv_key_listings_total', 'Key listings (dkv.<cluster>.keys pages) this node coordinated.', () => x.keyListing().listings);
    figureCounter(registry, 'dkv_key_listings_unavailable_total', 'Key listings answered unavailable: some partition had no live replica that answered.', () => x.keyListing().unavailable);
    figureCounter(registry, 'dkv_key_scans_total', "Scans of this node's replicas for a key listing (its own coordinators' and its peers').", () => x.keyListing().scans);
    figureCounter(registry, 'dkv_key_scan_entries_total', 'Entries those scans read.', () => x.keyListing().entriesScanned);
    figureCounter(registry, 'dkv_key_scans_refused_total', 'Scans refused overloaded: this node already ran its bound of scans at once.', () => x.keyListing().overloaded);
    figureCounter(registry, 'dkv_nats_reconnects_total', "Reconnections of this node's NATS connection.", () => x.natsFigures.reconnects);
    figureCounter(registry, 'dkv_nats_disconnects_total', "Losses of this node's NATS connection.", () => x.natsFigures.disconnects);
    figureGauge(registry, 'dkv_event_loop_lag_seconds', "How late the node's event loop ran: p90 over the last control window (half a second).", () => x.foreground.figures().lastWindow.eventLoopP90Ms / 1000);
    figureGauge(registry, 'dkv_storage_entries', 'Entries in the replica store (lmdb: committed ones).', () => x.storage.footprint().entries);
    // Only from an engine that can tell (lmdb); the memory engine has entries only.
    if (x.storage.footprint().bytes !== undefined) {
      figureGauge(registry, 'dkv_storage_bytes', 'Bytes the replica store takes (lmdb: its pages in use).', () => x.storage.footprint().bytes ?? 0);
    }
    figureGauge(registry, 'dkv_client_ops_in_progress', 'Client operations in progress on this node (admission control).', () => x.admitted.inProgress);
    new Counter({
      name: 'dkv_admission_rejections_total',
      help: 'Operations refused overloaded by admission control: client operations, and replica operations from peers.',
      labelNames: ['kind'],
      registers: r,
      collect() {
        this.reset();
        this.inc({ kind: 'client' }, x.admitted.rejected);
        this.inc({ kind: 'replica' }, x.replicaFigures().replicaOpsRefused);
      },
    });
  };

  return { registry, requests, observe, text: () => registry.metrics(), close: stopListening };
}

const encoder = new TextEncoder();

/**
 * `dkv.<cluster>.node.<ID>.metrics`: any request, whatever its body, is answered with the text.
 * Through the node's guarded subscribe, so nothing a sender does can crash the node.
 */
export function serveMetricsSubject(subscribe: Subscribe, subject: string, metrics: Pick<NodeMetrics, 'text'>, log: Logger): void {
  subscribe(subject, {
    callback: (err, msg) => {
      if (err || !msg.reply) return;
      metrics.text().then(
        (text) => msg.respond(encoder.encode(text)),
        (e) => {
          log.warn({ event: 'metrics-failed', err: (e as Error).message }, 'metrics could not be gathered');
          msg.respond(encoder.encode(`# metrics could not be gathered: ${(e as Error).message}\n`));
        },
      );
    },
  });
}

export interface MetricsHttp {
  /** The port listened on (the one asked for, or the one given for 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** `http://host:port/metrics`; 404 for any other path, 405 for a method other than GET or HEAD. */
export async function serveMetricsHttp(host: string, port: number, metrics: Pick<NodeMetrics, 'text' | 'registry'>, log: Logger): Promise<MetricsHttp> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: metrics are at /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET, HEAD' }).end('method not allowed\n');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics could not be gathered: ${(e as Error).message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // A scraper's connection error is the scraper's business, not a reason to stop the node.
  server.on('error', (e) => log.warn({ event: 'metrics-http-error', err: e.message }, 'metrics HTTP server error'));
  const address = server.address();
  const bound = typeof address === 'object' && address !== null ? address.port : port;
  log.info({ event: 'metrics-listening', host, port: bound }, `metrics at http://${host.includes(':') ? `[${host}]` : host}:${bound}/metrics`);
  return {
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
