/**
 * `npm run bench`: dkv against JetStream KV (the peers: one replica on one server, and three
 * replicas on a three-server cluster) and a bare NATS echo (the floor), in the same run, on YCSB workloads with zipfian keys. Starts every server and node it needs on
 * loopback; prints a table of medians over rounds and writes the raw results as JSON under
 * bench/results/. See docs/performance.md for what each column means.
 */
import { Command, Option } from 'commander';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineCheckout } from './baseline.ts';
import { FLOOR_FEATURES, parseFloorFeatures, type FloorFeature } from './floor/features.ts';
import { describeMachine, machineLine, type Machine } from './machine.ts';
import { Progress } from './progress.ts';
import { BASELINE_SUFFIX, baselineLines, FLOOR_2, floorPairedLines, peerPairedLines, DKV_TARGETS, FOREIGN_CORES_LARGE, durabilityLines, ratioLines, ratios, summariseRounds, summaryTable, table, targetLine, writeJson, type Summary } from './report.ts';
import { CONCURRENCY_MAX } from './runner.ts';
import { activeTargets, profiledTargets, runSuite, TARGET_NAMES, type SuiteConfig, type SuiteResult, type TargetName } from './suite.ts';
import { parseWorkloads } from './workload.ts';
import { SYNC_MODES, type SyncMode } from '../src/storage/lmdb.ts';
import { overloadTable, runOverload, writeOverload } from './overload.ts';
import { rebuildTable, runRebuild, writeRebuild } from './rebuild.ts';

async function overloadMode(o: { overloadSteps: string; overloadStepS: number; overloadDeadlineMs: number; overloadFlood: number; overloadClientOpsMax?: number; overloadCapacity?: number; keys: number; valueBytes: number; dataDir: string; out: string; keepData?: boolean }): Promise<void> {
  const steps = o.overloadSteps.split(',').map((t) => Number(t.trim()));
  if (steps.some((m) => !Number.isFinite(m) || m <= 0)) throw new Error(`--overload-steps takes positive multiples like 1,2,5,10, got ${JSON.stringify(o.overloadSteps)}`);
  const dataDir = join(o.dataDir, `dkv-overload-${process.pid}`);
  const report = await runOverload({ dataDir, out: o.out, keys: o.keys, valueBytes: o.valueBytes, steps, stepSeconds: o.overloadStepS, capacitySeconds: 5, deadlineMs: o.overloadDeadlineMs, floodRequests: o.overloadFlood, ...(o.overloadClientOpsMax !== undefined ? { clientOpsMax: o.overloadClientOpsMax } : {}), ...(o.overloadCapacity !== undefined ? { capacityPerS: o.overloadCapacity } : {}), say: (line) => console.error(line) });
  if (!o.keepData) rmSync(dataDir, { recursive: true, force: true });
  const files = writeOverload(o.out, report);
  console.log(`closed-loop capacity ${report.capacityPerS} ops/s; unloaded p99 ${report.unloadedP99Ms.toFixed(1)} ms`);
  console.log(overloadTable(report));
  console.log(`results: ${files.json}\nplot: ${files.svg}`);
}

async function rebuildMode(o: { rebuildKeys: number; rebuildWriters: number; valueBytes: number; out: string }): Promise<void> {
  const report = await runRebuild({ keys: o.rebuildKeys, valueBytes: o.valueBytes, writers: o.rebuildWriters, out: o.out, say: (line) => console.error(line) });
  console.log(rebuildTable(report));
  console.log(`results: ${writeRebuild(o.out, report)}`);
}

const RESULTS_DIR = fileURLToPath(new URL('./results/', import.meta.url));

const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) => (text: string) => {
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in ${min}..${max}, got ${JSON.stringify(text)}`);
  return n;
};
const intList = (name: string, min: number) => (text: string) => text.split(',').map((t) => int(name, min)(t.trim()));

function parseTargets(text: string): TargetName[] {
  const names = text.split(',').map((t) => t.trim()).filter(Boolean);
  for (const n of names) if (!(TARGET_NAMES as readonly string[]).includes(n)) throw new Error(`unknown target ${JSON.stringify(n)}: expected some of ${TARGET_NAMES.join(',')}`);
  return names as TargetName[];
}

function parseQuorums(text: string): { r: number; w: number }[] {
  return text.split(',').map((t) => {
    const m = /^\s*(\d+)\/(\d+)\s*$/.exec(t);
    if (!m) throw new Error(`--quorums takes R/W pairs like 1/1,2/2,3/3, got ${JSON.stringify(t)}`);
    return { r: Number(m[1]), w: Number(m[2]) };
  });
}

/** Both peers by default: three replicas is like for like, one replica the floor a single server sets. */
const DEFAULT_TARGETS = 'dkv,dkv-client,jetstream,jetstream-r3,echo';

const program = new Command('bench')
  .description('YCSB-style benchmark: dkv vs NATS JetStream KV (peers: 1 replica, 3 replicas) vs NATS request/reply echo (floor)')
  .option('--workloads <list>', 'YCSB workloads: A (50/50), B (95/5), C (100% reads)', 'A,B,C')
  .option('--keys <n>', 'distinct keys (zipfian choice, s=0.99)', int('keys', 1), 5000)
  .option('--value-bytes <n>', 'value size in bytes', int('value-bytes', 1, 256 * 1024), 100)
  .option('--ops <n>', 'operations per measured run', int('ops', 1), 20_000)
  .option('--duration-ms <ms>', 'stop a measured run after this long, even before --ops', int('duration-ms', 1))
  .option('--min-duration-ms <ms>', 'run past --ops until a measured run lasted this long', int('min-duration-ms', 0), 3_000)
  .option('--warmup-ops <n>', 'unmeasured operations per target after the preload', int('warmup-ops', 0), 2_000)
  .option('--warmup-ms <ms>', 'warm each target up for at least this long', int('warmup-ms', 0), 3_000)
  .option('--concurrency <n>', 'requests in flight (closed loop)', int('concurrency', 1, CONCURRENCY_MAX), 64)
  .option('--nodes <n>', 'dkv node processes', int('nodes', 1, 16), 3)
  .option('--n <n>', 'dkv replicas per key', int('n', 1, 16), 3)
  .option('--r <n>', 'dkv read quorum', int('r', 1, 16), 2)
  .option('--w <n>', 'dkv write quorum', int('w', 1, 16), 2)
  .addOption(new Option('--storage <engine>', 'dkv storage engine').choices(['lmdb', 'memory']).default('lmdb'))
  // The peer's file store does not fsync each write either (nats-server 2.9 syncs periodically).
  .addOption(new Option('--sync <mode>', 'dkv lmdb durability: periodic (as the peer) or always (fsync each write)').choices(SYNC_MODES).default('periodic'))
  .option('--rounds <n>', 'rounds; the table shows medians', int('rounds', 1, 99), 3)
  .option('--targets <list>', `some of ${TARGET_NAMES.join(',')}`, DEFAULT_TARGETS)
  .option('--seed <n>', 'workload seed', int('seed', 0), 1)
  .option('--baseline <git-ref>', 'also run each dkv target on nodes of this git revision (a worktree), as <target>@base, and compare them round by round')
  .option('--quick', 'smoke check: 1 round, 2000 ops, 1000 keys, short warm-up, no minimum duration (flags given explicitly win)')
  .option('--scaling-keys <list>', 'mode: one suite per key count, e.g. 10000,100000,1000000 (dkv + peer)', intList('scaling-keys', 1))
  .option('--preload-keys-max <n>', 'preload at most this many keys (reads of the others are misses, not errors)', int('preload-keys-max', 0))
  .option('--cluster-sizes <list>', 'mode: one suite per dkv node count, e.g. 3,5 (dkv only)', intList('cluster-sizes', 1))
  .option('--quorums <list>', 'mode: one suite per R/W pair, e.g. 1/1,2/2,3/3 (dkv only)', parseQuorums)
  .option('--floor-features <list>', `dkv's parts the replication-floor target runs with: some of ${FLOOR_FEATURES.join(',')} (none: last writer wins)`, parseFloorFeatures)
  .option('--floor2-features <list>', 'the parts of the second floor (target replication-floor-protocol-2, not profiled), set against replication-floor-protocol round by round', parseFloorFeatures)
  .option('--cpu-prof', 'profile node n1 of each dkv target (and of replication-floor and replication-floor-protocol) with node --cpu-prof and summarise the top functions; refused when none of --targets is one of them')
  .option('--data-dir <dir>', 'where the temporary data directories go', tmpdir())
  .option('--keep-data', 'keep the data directories')
  .option('--out <dir>', 'results directory', RESULTS_DIR)
  .option('--no-progress', 'no progress bar')
  .option('--nats-user <name>', 'the dkv targets\' nats-server requires this user (with --nats-pass) of the nodes and the load generator')
  .option('--nats-pass <password>', 'password for --nats-user')
  .option('--nats-token <token>', 'the dkv targets\' nats-server requires this token instead')
  .option('--overload', 'mode: open-loop load at multiples of the measured capacity (see --overload-steps); dkv only')
  .option('--overload-steps <list>', 'multiples of the closed-loop capacity to offer, one step each', '1,2,5,10')
  .option('--overload-step-s <s>', 'seconds per overload step', int('overload-step-s', 1), 10)
  .option('--overload-deadline-ms <ms>', 'what a client of the overload run waits for one reply', int('overload-deadline-ms', 10), 2_000)
  .option('--overload-capacity <ops/s>', 'offer multiples of this rate instead of the measured closed-loop capacity', int('overload-capacity', 1))
  .option('--overload-client-ops-max <n>', 'the nodes\' --client-ops-max for the overload run (default: the node\'s own)', int('overload-client-ops-max', 1))
  .option('--overload-flood <n>', 'after the steps, this many requests sent at once (0: none)', int('overload-flood', 0), 50_000)
  .option('--rebuild', 'mode: a node of a loaded 3-node cluster loses its disk; how long until every key is back on it (dkv only)')
  .option('--rebuild-keys <n>', 'keys loaded before the disk is lost', int('rebuild-keys', 1), 100_000)
  .option('--rebuild-writers <n>', 'puts in flight while the node rebuilds', int('rebuild-writers', 0, 256), 4);

interface Opts {
  natsUser?: string;
  natsPass?: string;
  natsToken?: string;
  workloads: string;
  keys: number;
  valueBytes: number;
  ops: number;
  durationMs?: number;
  minDurationMs: number;
  warmupOps: number;
  warmupMs: number;
  concurrency: number;
  nodes: number;
  n: number;
  r: number;
  w: number;
  storage: 'lmdb' | 'memory';
  sync: SyncMode;
  rounds: number;
  targets: string;
  seed: number;
  baseline?: string;
  quick?: boolean;
  scalingKeys?: number[];
  preloadKeysMax?: number;
  clusterSizes?: number[];
  quorums?: { r: number; w: number }[];
  cpuProf?: boolean;
  floorFeatures?: FloorFeature[];
  floor2Features?: FloorFeature[];
  dataDir: string;
  keepData?: boolean;
  out: string;
  progress: boolean;
}

async function main(): Promise<void> {
  program.parse(process.argv);
  const o = program.opts<Opts>();
  if ((o as any).overload) return overloadMode(o as any);
  if ((o as any).rebuild) return rebuildMode(o as any);
  const explicit = (name: string) => program.getOptionValueSource(name) === 'cli';
  if (o.quick) {
    if (!explicit('rounds')) o.rounds = 1;
    if (!explicit('ops')) o.ops = 2_000;
    if (!explicit('keys')) o.keys = 1_000;
    if (!explicit('warmupOps')) o.warmupOps = 300;
    if (!explicit('warmupMs')) o.warmupMs = 0;
    if (!explicit('minDurationMs')) o.minDurationMs = 0;
  }
  const workloads = parseWorkloads(o.workloads);
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const progress = new Progress(process.stderr, o.progress);

  const baseline = o.baseline ? baselineCheckout(o.baseline, o.dataDir) : undefined;
  const baselineBin = baseline?.bin;
  if (baseline) progress.say(`baseline: ${o.baseline} (${baseline.commit}), its nodes run as the @base targets`);
  const base = (label: string, over: Partial<SuiteConfig>, defaultTargets: string): SuiteConfig => {
    const keys = over.keys ?? o.keys;
    const chosen = parseTargets(explicit('targets') ? o.targets : defaultTargets);
    // Each dkv target next to its baseline, so the rotation keeps them in every round.
    const baseOf = (t: TargetName) => `${t}${BASELINE_SUFFIX}` as TargetName;
    const targets = baselineBin ? chosen.flatMap((t) => (DKV_TARGETS.includes(t) && !chosen.includes(baseOf(t)) ? [t, baseOf(t)] : [t])) : chosen;
    // Parts given to a floor that is not run would be measured by nobody, silently.
    if (o.floor2Features && !targets.includes(FLOOR_2)) throw new Error(`--floor2-features: add ${FLOOR_2} to --targets (it is set against replication-floor-protocol)`);
    // A profile nobody would write leaves an empty directory and prints nothing: refused instead.
    if (o.cpuProf && profiledTargets(targets).length === 0) throw new Error(`--cpu-prof: none of --targets is profiled (it profiles node n1 of ${profiledTargets(TARGET_NAMES).join(', ')})`);
    const cpuProfDir = o.cpuProf ? join(o.out, `profiles-${stamp}`, label.replace(/[^A-Za-z0-9=_-]+/g, '_')) : undefined;
    if (cpuProfDir) mkdirSync(cpuProfDir, { recursive: true });
    const natsAuth = o.natsToken ? { token: o.natsToken } : o.natsUser ? { user: o.natsUser, pass: o.natsPass ?? '' } : undefined;
    return {
      label,
      ...(natsAuth ? { natsAuth } : {}),
      targets,
      workloads,
      keys,
      preloadKeys: Math.min(keys, o.preloadKeysMax ?? keys),
      valueBytes: o.valueBytes,
      ops: o.ops,
      ...(o.durationMs ? { durationMs: o.durationMs } : {}),
      minDurationMs: o.minDurationMs,
      warmupOps: o.warmupOps,
      warmupMs: o.warmupMs,
      concurrency: o.concurrency,
      rounds: o.rounds,
      nodes: o.nodes,
      n: o.n,
      r: o.r,
      w: o.w,
      storage: o.storage,
      sync: o.sync,
      seed: o.seed,
      dataDir: o.dataDir,
      keepData: Boolean(o.keepData),
      ...(cpuProfDir ? { cpuProfDir } : {}),
      ...(baselineBin ? { baselineBin } : {}),
      ...(o.floorFeatures ? { floorFeatures: o.floorFeatures } : {}),
      ...(o.floor2Features ? { floor2Features: o.floor2Features } : {}),
      ...over,
    };
  };

  const suites: SuiteConfig[] = [];
  for (const keys of o.scalingKeys ?? []) suites.push(base(`keys=${keys}`, { keys, preloadKeys: Math.min(keys, o.preloadKeysMax ?? keys) }, 'dkv-client,jetstream'));
  for (const nodes of o.clusterSizes ?? []) suites.push(base(`nodes=${nodes}`, { nodes }, 'dkv,dkv-client'));
  for (const q of o.quorums ?? []) suites.push(base(`R=${q.r}/W=${q.w}`, { r: q.r, w: q.w }, 'dkv,dkv-client'));
  if (suites.length === 0) suites.push(base('default', {}, DEFAULT_TARGETS));

  const machine = describeMachine(o.dataDir);
  const commandLine = process.argv.length > 2 ? `npm run bench -- ${process.argv.slice(2).join(' ')}` : 'npm run bench';
  progress.say(`${commandLine}\nmachine: ${machineLine(machine)}`);

  const results: SuiteResult[] = [];
  const summaries: { label: string; summaries: Summary[] }[] = [];
  const outPath = () =>
    writeJson(o.out, `${stamp}.json`, {
      commandLine,
      startedAt: stamp,
      machine,
      suites: results.map((r, i) => ({ ...r, summaries: summaries[i]!.summaries, ratios: ratios(summaries[i]!.summaries) })),
    });

  for (const cfg of suites) {
    const result = await runSuite(cfg, progress);
    results.push(result);
    const s = summariseRounds(result.measurements);
    summaries.push({ label: cfg.label, summaries: s });
    const path = outPath(); // after every suite, so a long run that is cut short keeps its results
    printSuite(cfg, result, s, machine);
    // A fast wrong answer is a failure: any error reply or broken target fails the command.
    if (result.failures.length || s.some((x) => x.errorCount > 0) || result.preload.some((p) => Object.keys(p.errors).length)) process.exitCode = 1;
    if (cfg === suites[suites.length - 1]) process.stdout.write(`\nresults: ${path}\n`);
  }
  if (summaries.length > 1) {
    process.stdout.write('\nall suites (medians over rounds):\n');
    const rows = summaries.flatMap((x) => x.summaries.map((s) => ({ ...s, label: x.label })));
    process.stdout.write(summaryTable(rows, (s) => (s as Summary & { label: string }).label) + '\n');
  }
}

function printSuite(cfg: SuiteConfig, result: SuiteResult, s: Summary[], machine: Machine): void {
  const out: string[] = [''];
  out.push(
    `== ${cfg.label}: workloads ${cfg.workloads.map((w) => w.name).join(',')}, ${cfg.keys} keys${cfg.preloadKeys < cfg.keys ? ` (${cfg.preloadKeys} preloaded)` : ''}, ${cfg.valueBytes}-byte values, ${cfg.ops} ops${cfg.minDurationMs ? ` (at least ${cfg.minDurationMs / 1000} s)` : ''} x ${cfg.rounds} round(s), ${cfg.concurrency} in flight; dkv ${cfg.nodes} nodes N=${cfg.n} R=${cfg.r} W=${cfg.w} ${cfg.storage}${cfg.storage === 'lmdb' ? ` sync=${cfg.sync}` : ''}`,
  );
  out.push(summaryTable(s));
  const rs = ratios(s);
  out.push(...ratioLines(rs));
  out.push(...durabilityLines(cfg, cfg.targets, machine.natsServer.replace(/^nats-server:\s*/, 'nats-server ')));
  out.push(...peerPairedLines(result.measurements));
  out.push(...floorPairedLines(result.measurements));
  out.push(...baselineLines(result.measurements));
  const tls = DKV_TARGETS.map((subject) => targetLine(rs, s, [...new Set(result.failures.map((f) => f.target))], subject)).filter((l) => l !== undefined);
  out.push(...tls);
  if (s.some((x) => x.spreadLarge)) out.push(`! spread between rounds above 15% (marked !): treat those medians with care, or run more rounds`);
  for (const f of result.failures) out.push(`! ${f.target} BROKE after round ${f.round} workload ${f.workload} and was not measured further:\n  ${f.problems.join('\n  ')}`);
  const errors = s.filter((x) => x.errorCount > 0);
  if (errors.length) out.push(`! ERROR REPLIES: ${errors.map((x) => `${x.target}/${x.workload}: ${Object.entries(x.errors).map(([c, n]) => `${n} ${c}`).join(', ')}`).join('; ')}`);
  const preloadErrors = result.preload.filter((p) => Object.keys(p.errors).length);
  if (preloadErrors.length) out.push(`! PRELOAD ERRORS: ${preloadErrors.map((p) => `${p.target}: ${JSON.stringify(p.errors)}`).join('; ')}`);

  // Where the CPU goes, per process role: the medians of CPU seconds per 1,000 ops.
  const roles = [...new Set(result.measurements.flatMap((m) => Object.keys(m.cpuSecondsByRole)))];
  const rows = s.map((x) => {
    const ms = result.measurements.filter((m) => m.target === x.target && m.workload === x.workload);
    return [x.workload, x.target, ...roles.map((role) => {
      const v = ms.filter((m) => role in m.cpuSecondsByRole).map((m) => (m.cpuSecondsByRole[role]! / m.ops) * 1000).sort((a, b) => a - b);
      return v.length ? v[v.length >> 1]!.toFixed(3) : '';
    })];
  });
  out.push('', 'CPU s per 1,000 ops by process:', table(rows, ['workload', 'target', ...roles]));
  const interference = result.measurements.filter((m) => m.idleTargetsCpuSeconds / (m.elapsedMs / 1000) > 0.05);
  if (interference.length) {
    out.push('', '! idle targets used CPU while another was measured (core share): ' + interference.map((m) => `during ${m.target}/${m.workload}/r${m.round} ${((m.idleTargetsCpuSeconds / m.elapsedMs) * 1000).toFixed(2)}`).join('; '));
  }
  const noisy = result.measurements.filter((m) => (m.foreignCpuSeconds + m.stealCpuSeconds) / (m.elapsedMs / 1000) > FOREIGN_CORES_LARGE);
  if (noisy.length) {
    out.push('', `! other load on the machine during some runs (cores used by other programs + stolen by the hypervisor, on average): ${noisy.map((m) => `${m.target}/${m.workload}/r${m.round} ${((m.foreignCpuSeconds / m.elapsedMs) * 1000).toFixed(2)}+${((m.stealCpuSeconds / m.elapsedMs) * 1000).toFixed(2)}`).join('; ')}`);
  }
  const sanity = result.measurements.filter((m) => Object.values(m.counters).some((v) => v > 0));
  if (sanity.length) {
    out.push('', 'sanity counters (per run): ' + sanity.map((m) => `${m.target}/${m.workload}/r${m.round} ${Object.entries(m.counters).map(([k, v]) => `${k}=${v}`).join(' ')}`).join('; '));
  }
  out.push('', 'preload: ' + result.preload.map((p) => `${p.target} ${p.ops} keys in ${(p.elapsedMs / 1000).toFixed(1)} s (${p.throughput.toFixed(0)}/s)`).join(', '));
  if (result.profileText) out.push('', `CPU profile of the dkv nodes (${cfg.cpuProfDir}):`, result.profileText);
  if (result.floorProfileText) out.push('', `CPU profile of the replication floor's node n1 (${cfg.cpuProfDir}/replication-floor):`, result.floorProfileText);
  process.stdout.write(out.join('\n') + '\n');
}

let stopping = false;
async function interrupted(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\n${signal}: stopping the servers and nodes ...\n`);
  // A target that does not stop (a node that hangs) must not keep the harness, and its
  // baseline worktree, around: the nodes exit with the harness (their stdin closes).
  setTimeout(() => {
    process.stderr.write('targets did not stop within 15 s; exiting anyway\n');
    process.exit(130);
  }, 15_000).unref();
  await Promise.allSettled([...activeTargets].map((t) => t.stop()));
  process.exit(130);
}
process.once('SIGINT', () => void interrupted('SIGINT'));
process.once('SIGTERM', () => void interrupted('SIGTERM'));

main().then(
  () => process.exit(process.exitCode ?? 0),
  async (err) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
    await Promise.allSettled([...activeTargets].map((t) => t.stop()));
    process.exit(1);
  },
);
