/**
 * Results: one Measurement per (round, workload, target), folded into medians over rounds, the
 * ratios dkv/peer and dkv/floor, a table for the terminal and a JSON file for comparison.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LatencySummary } from './runner.ts';
import type { SyncMode } from '../src/storage/lmdb.ts';

/** Spread between rounds, (max - min) / median, above which the table flags a figure. */
export const SPREAD_LARGE = 0.15;
/** Other load on the machine, in cores on average over a run, above which the run is flagged. */
export const FOREIGN_CORES_LARGE = 0.1;
/** The issue's target, checked on workload A: dkv throughput >= 0.7x the peer's ... */
export const TARGET_THROUGHPUT_RATIO_MIN = 0.7;
/** ... and dkv p99.9 <= 3x the peer's. */
export const TARGET_P999_RATIO_MAX = 3;

/** Row order in tables: the subject, then the peers (one replica, three), then the floor. */
const TARGET_ORDER = ['dkv', 'dkv-client', 'jetstream', 'jetstream-r3', 'echo', 'replication-floor', 'replication-floor-protocol', 'replication-floor-protocol-2'];

/** The peers: JetStream KV with one replica (the floor one server sets) and with three (like for like). */
export const PEERS = ['jetstream', 'jetstream-r3'];

/** The ways of reaching dkv that are measured against the others: the protocol and the client library. */
export const DKV_TARGETS = ['dkv', 'dkv-client'];
/**
 * The replication floor, reached through the client library and through the protocol
 * (bench/floor/node.ts), and a second floor through the protocol with parts of its own
 * (`--floor2-features`), to size parts against each other in one run.
 */
export const FLOOR_TARGETS = ['replication-floor', 'replication-floor-protocol', 'replication-floor-protocol-2'];
/** The second floor, and the one it is set against round by round. */
export const FLOOR_2 = 'replication-floor-protocol-2';
const FLOOR_2_AGAINST = 'replication-floor-protocol';

/** A dkv target whose nodes run another version of dkv (`--baseline REF`): `<target>@base`. */
export const BASELINE_SUFFIX = '@base';

export interface ProcessMemory {
  readonly role: string;
  readonly pid: number;
  readonly rssPeakBytes: number;
  readonly rssBytes: number;
}

export interface Measurement {
  readonly target: string;
  readonly workload: string;
  readonly round: number;
  readonly ops: number;
  readonly elapsedMs: number;
  readonly throughput: number;
  readonly latency: LatencySummary;
  readonly latencyByKind: Record<string, LatencySummary>;
  /** The whole HDR histogram (microseconds), compressed base64: hdr.decodeFromCompressedBase64. */
  readonly latencyHistogram: string;
  /** Error replies by code (protocol codes and the harness's own). */
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly cpuSecondsByRole: Record<string, number>;
  readonly cpuSeconds: number;
  readonly cpuSecondsPerKiloOps: number;
  /** CPU used meanwhile by the other targets' processes, which should be idle: interference. */
  readonly idleTargetsCpuSeconds: number;
  /** CPU used on the machine by processes that are not part of the benchmark: other load. */
  readonly foreignCpuSeconds: number;
  /** CPU time stolen by the hypervisor during the run. */
  readonly stealCpuSeconds: number;
  /** Sum of the peak RSS (VmHWM, since process start) of the processes holding the data. */
  readonly rssPeakBytes: number;
  readonly memory: readonly ProcessMemory[];
  readonly counters: Record<string, number>;
}

export interface Summary {
  readonly target: string;
  readonly workload: string;
  readonly rounds: number;
  readonly throughput: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly cpuSecondsPerKiloOps: number;
  readonly rssPeakBytes: number;
  /** Summed over rounds: every error counts, not a median. */
  readonly errors: Record<string, number>;
  readonly errorCount: number;
  readonly spread: { readonly throughput: number; readonly p99Ms: number; readonly p999Ms: number };
  readonly spreadLarge: boolean;
}

export interface Ratios {
  /** `dkv` (the protocol) or `dkv-client` (the client library's pipeline). */
  readonly subject: string;
  readonly workload: string;
  readonly against: string;
  readonly throughput: number;
  readonly p999: number;
  readonly cpuPerOp: number;
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** (max - min) / median; 0 for a single round. */
export function spread(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : (Math.max(...xs) - Math.min(...xs)) / m;
}

export function summariseRounds(ms: readonly Measurement[]): Summary[] {
  const groups = new Map<string, Measurement[]>();
  for (const m of ms) {
    const k = `${m.workload}\u0000${m.target}`;
    groups.set(k, [...(groups.get(k) ?? []), m]);
  }
  const order = (t: string) => {
    const i = TARGET_ORDER.indexOf(t);
    return i < 0 ? TARGET_ORDER.length : i;
  };
  const sorted = [...groups.values()].sort((a, b) => a[0]!.workload.localeCompare(b[0]!.workload) || order(a[0]!.target) - order(b[0]!.target));
  return sorted.map((g) => {
    const first = g[0]!;
    const errors: Record<string, number> = {};
    for (const m of g) for (const [code, n] of Object.entries(m.errors)) errors[code] = (errors[code] ?? 0) + n;
    const sp = {
      throughput: spread(g.map((m) => m.throughput)),
      p99Ms: spread(g.map((m) => m.latency.p99Ms)),
      p999Ms: spread(g.map((m) => m.latency.p999Ms)),
    };
    return {
      target: first.target,
      workload: first.workload,
      rounds: g.length,
      throughput: median(g.map((m) => m.throughput)),
      p50Ms: median(g.map((m) => m.latency.p50Ms)),
      p99Ms: median(g.map((m) => m.latency.p99Ms)),
      p999Ms: median(g.map((m) => m.latency.p999Ms)),
      cpuSecondsPerKiloOps: median(g.map((m) => m.cpuSecondsPerKiloOps)),
      rssPeakBytes: Math.max(...g.map((m) => m.rssPeakBytes)),
      errors,
      errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
      spread: sp,
      spreadLarge: sp.throughput > SPREAD_LARGE || sp.p99Ms > SPREAD_LARGE,
    };
  });
}

/** The replication floor is a subject too, against the peers and the echo floor only. */
const REFERENCES = [...PEERS, 'echo'];

/**
 * Each way of reaching dkv against each target that is not dkv, and the replication floor against
 * the references, per workload, from the medians.
 */
export function ratios(summaries: readonly Summary[]): Ratios[] {
  const out: Ratios[] = [];
  for (const s of summaries) {
    const isFloor = FLOOR_TARGETS.includes(s.target);
    if (!DKV_TARGETS.includes(s.target) && !isFloor) continue;
    for (const other of summaries) {
      if (other.workload !== s.workload || DKV_TARGETS.includes(other.target)) continue;
      if (isFloor && !REFERENCES.includes(other.target)) continue;
      // A baseline is compared with the same way of reaching dkv only.
      if (other.target.endsWith(BASELINE_SUFFIX) && other.target !== s.target + BASELINE_SUFFIX) continue;
      out.push({
        subject: s.target,
        workload: s.workload,
        against: other.target,
        throughput: s.throughput / other.throughput,
        p999: s.p999Ms / other.p999Ms,
        cpuPerOp: s.cpuSecondsPerKiloOps / other.cpuSecondsPerKiloOps,
      });
    }
  }
  return out;
}

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const ms = (x: number) => (x >= 100 ? fmt(x, 0) : x >= 10 ? fmt(x, 1) : fmt(x, 2));
const pct = (x: number) => `${Math.round(x * 100)}%${x > SPREAD_LARGE ? '!' : ''}`;
const mb = (bytes: number) => (bytes > 0 ? fmt(bytes / 2 ** 20, 0) : '-');

/** Plain text columns: the first `leftColumns` are names (left-aligned), the rest numbers. */
export function table(rows: readonly string[][], header: readonly string[], leftColumns = 2): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** The terminal table: one row per (workload, target), medians over rounds. */
export function summaryTable(summaries: readonly Summary[], label?: (s: Summary) => string): string {
  const header = [...(label ? ['config'] : []), 'workload', 'target', 'ops/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU s/1k ops', 'RSS peak MB', 'errors', 'spread ops/s', 'spread p99', 'rounds'];
  const rows = summaries.map((s) => [
    ...(label ? [label(s)] : []),
    s.workload,
    s.target,
    fmt(s.throughput, 0),
    ms(s.p50Ms),
    ms(s.p99Ms),
    ms(s.p999Ms),
    fmt(s.cpuSecondsPerKiloOps, 3),
    mb(s.rssPeakBytes),
    s.errorCount === 0 ? '0' : Object.entries(s.errors).map(([c, n]) => `${n} ${c}`).join(', '),
    pct(s.spread.throughput),
    pct(s.spread.p99Ms),
    String(s.rounds),
  ]);
  return table(rows, header, label ? 3 : 2);
}

/**
 * `subject`'s rounds of one workload, each paired with `against`'s of the same round: both ran
 * in that round back to back, so the ratio of each pair cancels most of what the machine's load
 * (and its drift over a long run) does to both. The median of those ratios is steadier than the
 * ratio of the medians.
 */
function pairedByRound(ms: readonly Measurement[], subject: string, against: string, workload: string): { throughput: number[]; cpu: number[] } {
  const pairs = ms
    .filter((m) => m.target === subject && m.workload === workload)
    .map((m) => [m, ms.find((b) => b.target === against && b.workload === workload && b.round === m.round)] as const)
    .filter((p): p is readonly [Measurement, Measurement] => p[1] !== undefined);
  return { throughput: pairs.map(([m, b]) => m.throughput / b.throughput), cpu: pairs.map(([m, b]) => m.cpuSecondsPerKiloOps / b.cpuSecondsPerKiloOps) };
}

function pairedLine(workload: string, subject: string, against: string, p: { throughput: number[]; cpu: number[] }): string {
  return `workload ${workload}: ${subject} / ${against}, paired by round: throughput ${fmt(median(p.throughput), 2)}x (rounds ${p.throughput.map((x) => fmt(x, 2)).join(' ')}), CPU per op ${fmt(median(p.cpu), 2)}x (rounds ${p.cpu.map((x) => fmt(x, 2)).join(' ')})`;
}

/**
 * One paired line per target of `subjects` and workload, against `against(target)`, when at
 * least `roundsMin` rounds pair up.
 */
function pairedLines(ms: readonly Measurement[], subjects: readonly string[], against: (target: string) => string, roundsMin: number): string[] {
  const out: string[] = [];
  const keys = [...new Set(ms.filter((m) => subjects.includes(m.target)).map((m) => `${m.target}\0${m.workload}`))];
  for (const key of keys) {
    const [target, workload] = key.split('\0') as [string, string];
    const p = pairedByRound(ms, target, against(target), workload);
    if (p.throughput.length >= roundsMin) out.push(pairedLine(workload, target, against(target), p));
  }
  return out;
}

/** A dkv target against its baseline, round by round (see pairedByRound). */
export function baselineLines(ms: readonly Measurement[]): string[] {
  return pairedLines(ms, DKV_TARGETS, (target) => target + BASELINE_SUFFIX, 1);
}

/** The like-for-like peer: three replicas, as dkv keeps. */
const PEER_R3 = 'jetstream-r3';

/**
 * dkv's targets and the floors against the three-replica peer, round by round (see
 * pairedByRound): with several rounds, the figure to quote for issue #19's targets. The peer's
 * file store slows as its stream ages, so later rounds differ from earlier ones for both sides.
 * One round pairs to nothing the table's own ratio does not say.
 */
export function peerPairedLines(ms: readonly Measurement[]): string[] {
  return pairedLines(ms, [...DKV_TARGETS, ...FLOOR_TARGETS], () => PEER_R3, 2);
}

/**
 * The second floor against the first, round by round: the two differ only in dkv's parts they
 * run with, so this is what those parts cost, with the machine's drift paired out.
 */
export function floorPairedLines(ms: readonly Measurement[]): string[] {
  return pairedLines(ms, [FLOOR_2], () => FLOOR_2_AGAINST, 1);
}

export function ratioLines(rs: readonly Ratios[]): string[] {
  const names: Record<string, string> = { jetstream: 'peer (JetStream KV)', 'jetstream-r3': 'peer R3 (JetStream KV, 3 replicas)', echo: 'floor (echo)', 'replication-floor': 'replication floor', 'replication-floor-protocol': 'replication floor (protocol)', 'replication-floor-protocol-2': 'replication floor 2 (protocol)' };
  return rs.map((r) => `workload ${r.workload}: ${r.subject} / ${names[r.against] ?? r.against}: throughput ${fmt(r.throughput, 2)}x, p99.9 ${fmt(r.p999, 2)}x, CPU per op ${fmt(r.cpuPerOp, 2)}x`);
}

/** What the run's dkv promised for an acknowledged put, from its settings. */
export interface DkvDurability {
  readonly storage: 'lmdb' | 'memory';
  readonly sync: SyncMode;
  readonly w: number;
  readonly n: number;
}

/**
 * What each side of the ratios promised for an acknowledged write, one line per side present:
 * dkv from the run's settings, the peers from how the harness starts them (nats-server's file
 * store syncs on a timer, 2 min by default, never per write unless told to; the harness does not).
 */
export function durabilityLines(dkv: DkvDurability, targets: readonly string[], natsServer = 'nats-server'): string[] {
  const out: string[] = [];
  if (targets.some((t) => DKV_TARGETS.includes(t.replace(BASELINE_SUFFIX, '')))) {
    const how =
      dkv.storage === 'memory'
        ? 'memory storage, nothing on disk'
        : dkv.sync === 'always'
          ? `lmdb --sync always: a put acknowledged once W=${dkv.w} of N=${dkv.n} replicas fsynced it`
          : dkv.sync === 'one'
            ? `lmdb --sync one: a put acknowledged once W=${dkv.w} of N=${dkv.n} replicas committed it, one of them fsynced (the others fsync within a second)`
            : `lmdb --sync periodic: a put acknowledged once W=${dkv.w} of N=${dkv.n} replicas committed it (no fsync per write; each fsyncs within a second)`;
    out.push(`durability: dkv ${how}`);
  }
  const peerSync = `${natsServer} default sync (no fsync per write; the file store syncs on a timer, every 2 min by default)`;
  if (targets.includes('jetstream')) out.push(`durability: peer (jetstream) file store, replicas 1: a put acknowledged once in one server's file store; ${peerSync}`);
  if (targets.includes('jetstream-r3')) out.push(`durability: peer R3 (jetstream-r3) file store, replicas 3: a put acknowledged once 2 of 3 servers have it in their file store; ${peerSync}`);
  return out;
}

/**
 * The issue's goal on workload A for one way of reaching dkv (`subject`), stated as met or not
 * (informational, never a test).
 */
export function targetLine(rs: readonly Ratios[], summaries: readonly Summary[], broken: readonly string[] = [], subject = 'dkv'): string | undefined {
  const a = rs.find((r) => r.subject === subject && r.workload === 'A' && r.against === 'jetstream');
  // The goal is dkv's; the replication floor is a reference (bench/floor/node.ts).
  if (!a || !DKV_TARGETS.includes(subject)) return undefined;
  const head = `target for ${subject} (workload A: throughput >= ${TARGET_THROUGHPUT_RATIO_MIN}x peer, p99.9 <= ${TARGET_P999_RATIO_MAX}x peer)`;
  const figures = `(${fmt(a.throughput, 2)}x, ${fmt(a.p999, 2)}x)`;
  // Speed bought with wrong answers or a dead node is not a result.
  const errors = summaries.filter((s) => s.workload === 'A' && (s.target === subject || s.target === 'jetstream') && s.errorCount > 0);
  broken = broken.filter((b) => b === subject || b === 'jetstream');
  if (errors.length || broken.length) return `${head}: NOT VALID, ${[...errors.map((s) => `${s.target} had ${s.errorCount} error replies`), ...broken.map((b) => `${b} broke`)].join(', ')} ${figures}`;
  const ok = a.throughput >= TARGET_THROUGHPUT_RATIO_MIN && a.p999 <= TARGET_P999_RATIO_MAX;
  return `${head}: ${ok ? 'met' : 'not met'} ${figures}`;
}

export function writeJson(dir: string, name: string, body: unknown): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(body, null, 2) + '\n');
  return path;
}
