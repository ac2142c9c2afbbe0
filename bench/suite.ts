/**
 * One suite: start the targets of one configuration, preload them, warm them up, then run
 * rounds x workloads x targets, alternating the targets' order so that none always goes first.
 */
import hdr from 'hdr-histogram-js';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cpuDelta, cpuSnapshot, foreignCpu, machineCpu, memoryOf } from './cpu.ts';
import { formatProfileSummary, isMainThreadProfile, nowMicros, readProfile, summariseProfiles, type ProfileSummary, type Window } from './profile.ts';
import type { Progress } from './progress.ts';
import { mulberry32 } from './random.ts';
import { BASELINE_SUFFIX, DKV_TARGETS, FLOOR_2, type Measurement, type ProcessMemory } from './report.ts';
import { runClosedLoop, summarise, type RunResult } from './runner.ts';
import { FLOOR_BIN } from './floor/features.ts';
import type { BenchNatsAuth } from './targets/dkv.ts';
import { DkvTarget } from './targets/dkv.ts';
import { EchoTarget } from './targets/echo.ts';
import { JetStreamTarget } from './targets/jetstream.ts';
import { JetStreamClusterTarget } from './targets/jetstreamCluster.ts';
import type { Target } from './targets/target.ts';
import { OpStream, type Op, type Workload } from './workload.ts';
import { Zipf } from './zipf.ts';
import type { SyncMode } from '../src/storage/lmdb.ts';

export const TARGET_NAMES = ['dkv', 'dkv-client', 'jetstream', 'jetstream-r3', 'echo', 'replication-floor', 'replication-floor-protocol', 'replication-floor-protocol-2', 'dkv@base', 'dkv-client@base'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];
const FLOOR = 'replication-floor' satisfies TargetName;
const FLOOR_PROTOCOL = 'replication-floor-protocol' satisfies TargetName;
const FLOOR_PROTOCOL_2 = FLOOR_2 satisfies TargetName;
/** The floors whose node n1 `--cpu-prof` profiles and summarises (the second floor is not profiled). */
const PROFILED_FLOORS: readonly string[] = [FLOOR, FLOOR_PROTOCOL];

/** The targets of a run whose node n1 `--cpu-prof` profiles: dkv's two (not their baselines) and two floors. */
export function profiledTargets(targets: readonly string[]): string[] {
  return targets.filter((t) => DKV_TARGETS.includes(t) || PROFILED_FLOORS.includes(t));
}

export interface SuiteConfig {
  /** What varies in this suite (e.g. `keys=100000`); `default` for the plain comparison. */
  readonly label: string;
  /** With it, the dkv targets' nats-server requires this user and password (or token) of everyone. */
  readonly natsAuth?: BenchNatsAuth;
  readonly targets: readonly TargetName[];
  readonly workloads: readonly Workload[];
  readonly keys: number;
  /** Keys written before measuring: all of them unless limited for very large key counts. */
  readonly preloadKeys: number;
  readonly valueBytes: number;
  readonly ops: number;
  readonly durationMs?: number;
  /** Each measured run lasts at least this long, past `ops` if need be. */
  readonly minDurationMs: number;
  readonly warmupOps: number;
  /** Each target's warm-up lasts at least this long (JIT, caches, heap growth). */
  readonly warmupMs: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly nodes: number;
  readonly n: number;
  readonly r: number;
  readonly w: number;
  readonly storage: 'lmdb' | 'memory';
  readonly sync: SyncMode;
  /** The `dkv` bin of another version (`--baseline`), for the `@base` targets. */
  readonly baselineBin?: string;
  readonly seed: number;
  readonly dataDir: string;
  readonly keepData: boolean;
  /** Profile the dkv nodes (node --cpu-prof) into this directory. */
  readonly cpuProfDir?: string;
  /** dkv's parts the replication floor runs with (bench/floor/node.ts); none by default. */
  readonly floorFeatures?: readonly string[];
  /** dkv's parts the second floor (`replication-floor-protocol-2`) runs with; none by default. */
  readonly floor2Features?: readonly string[];
}

export interface PhaseResult {
  readonly target: string;
  readonly ops: number;
  readonly elapsedMs: number;
  readonly throughput: number;
  readonly errors: Record<string, number>;
}

export interface SuiteResult {
  readonly config: Omit<SuiteConfig, 'workloads'> & { workloads: string[] };
  readonly targets: { name: string; description: string }[];
  readonly preload: PhaseResult[];
  readonly warmup: PhaseResult[];
  readonly measurements: Measurement[];
  /** Targets dropped part-way because a process of theirs died, with why. */
  readonly failures: { target: string; round: number; workload: string; problems: string[] }[];
  readonly profile?: ProfileSummary;
  readonly profileText?: string;
  /** The replication floor's node n1, when it ran with --cpu-prof. */
  readonly floorProfile?: ProfileSummary;
  readonly floorProfileText?: string;
}

/** Targets being run, so that an interrupted run can still stop its child processes. */
export const activeTargets = new Set<Target>();

async function startTarget(name: TargetName, cfg: SuiteConfig, dir: string): Promise<Target> {
  const settings = { keys: cfg.keys, valueBytes: cfg.valueBytes };
  switch (name) {
    case 'dkv':
    case 'dkv-client':
    case 'dkv@base':
    case 'dkv-client@base': {
      const isBaseline = name.endsWith(BASELINE_SUFFIX);
      if (isBaseline && !cfg.baselineBin) throw new Error(`target ${name} needs --baseline REF`);
      return DkvTarget.start({
        ...settings,
        name,
        ...(isBaseline ? { bin: cfg.baselineBin } : {}),
        via: name.startsWith('dkv-client') ? 'client' : 'protocol',
        nodes: cfg.nodes,
        n: cfg.n,
        r: cfg.r,
        w: cfg.w,
        storage: cfg.storage,
        sync: cfg.sync,
        dataDir: join(dir, name),
        ...(cfg.cpuProfDir && !isBaseline ? { cpuProfDir: join(cfg.cpuProfDir, name) } : {}),
        ...(cfg.natsAuth ? { natsAuth: cfg.natsAuth } : {}),
      });
    }
    case FLOOR:
    case FLOOR_PROTOCOL:
    case FLOOR_PROTOCOL_2: {
      const features = (name === FLOOR_PROTOCOL_2 ? cfg.floor2Features : cfg.floorFeatures) ?? [];
      const via = name === FLOOR ? 'client' : 'protocol';
      return DkvTarget.start({
        ...settings,
        name,
        bin: FLOOR_BIN,
        // The floor's nodes serve the data protocol only: no status to settle on.
        settle: false,
        via,
        nodes: 3,
        n: 3,
        r: 2,
        w: 2,
        storage: 'lmdb',
        sync: 'periodic',
        dataDir: join(dir, name),
        env: { FLOOR_FEATURES: features.join(',') },
        ...(cfg.cpuProfDir && PROFILED_FLOORS.includes(name) ? { cpuProfDir: join(cfg.cpuProfDir, name) } : {}),
        description: `${name === FLOOR_PROTOCOL_2 ? 'second ' : ''}replication floor: 3 bare nodes, N=3 R=2 W=2, raw lmdb, ${via === 'client' ? 'client library' : 'JSON request/reply'}; ${features.length ? `with dkv's ${features.join(', ')}` : 'last writer wins, none of dkv'} (bench/floor/node.ts)`,
      });
    }
    case 'jetstream':
      return JetStreamTarget.start({ ...settings, dataDir: join(dir, 'jetstream') });
    case 'jetstream-r3':
      return JetStreamClusterTarget.start({ ...settings, dataDir: join(dir, 'jetstream-r3') });
    case 'echo':
      return EchoTarget.start(settings);
  }
}

const exec = (t: Target, version: { n: number }) => (op: Op) => (op.kind === 'read' ? t.read(op.keyIndex) : t.update(op.keyIndex, ++version.n));

function phaseResult(target: string, r: RunResult): PhaseResult {
  return { target, ops: r.ops, elapsedMs: r.elapsedMs, throughput: r.ops / (r.elapsedMs / 1000), errors: r.errors };
}

function errorNote(errors: Record<string, number>): string | undefined {
  const e = Object.entries(errors);
  return e.length ? `ERRORS: ${e.map(([c, n]) => `${n} ${c}`).join(', ')}` : undefined;
}

export async function runSuite(cfg: SuiteConfig, progress: Progress): Promise<SuiteResult> {
  mkdirSync(cfg.dataDir, { recursive: true });
  const dir = mkdtempSync(join(cfg.dataDir, 'dkv-bench-'));
  const targets: Target[] = [];
  const version = { n: 0 };
  const preload: PhaseResult[] = [];
  const warmup: PhaseResult[] = [];
  const measurements: Measurement[] = [];
  /** When dkv was being measured: the profile summary keeps only these samples. */
  const dkvWindows: Window[] = [];
  const floorWindows: Window[] = [];
  const failures: SuiteResult['failures'] = [];
  const dropped = new Set<Target>();
  try {
    for (const name of cfg.targets) {
      progress.say(`[${cfg.label}] starting ${name} ...`);
      const t = await startTarget(name, cfg, dir);
      targets.push(t);
      activeTargets.add(t);
    }
    const zipf = new Zipf({ items: cfg.keys, scrambleSeed: mulberry32(cfg.seed) });

    for (const t of targets) {
      let next = 0;
      const phase = progress.phase(`[${cfg.label}] preload ${t.name} (${cfg.preloadKeys} keys)`, cfg.preloadKeys);
      const r = await runClosedLoop({ ops: cfg.preloadKeys, concurrency: cfg.concurrency, next: () => ({ kind: 'update', keyIndex: next++ }), exec: (op) => t.update(op.keyIndex, 0), onProgress: phase.update });
      phase.end(errorNote(r.errors));
      preload.push(phaseResult(t.name, r));
      t.markPreloaded(cfg.preloadKeys);
    }

    for (const t of targets) {
      if (cfg.warmupOps <= 0 && cfg.warmupMs <= 0) break;
      const stream = new OpStream(cfg.workloads[0]!, cfg.keys, mulberry32(cfg.seed ^ 0x77a7), zipf);
      const phase = progress.phase(`[${cfg.label}] warm-up ${t.name}`, cfg.warmupOps);
      const r = await runClosedLoop({ ops: cfg.warmupOps, minDurationMs: cfg.warmupMs, concurrency: cfg.concurrency, next: () => stream.next(), exec: exec(t, version), onProgress: phase.update });
      phase.end(errorNote(r.errors));
      warmup.push(phaseResult(t.name, r));
      t.takeCounters();
    }

    for (let round = 1; round <= cfg.rounds; round++) {
      for (const [wi, workload] of cfg.workloads.entries()) {
        // Rotate the order every (round, workload) so that each target takes each position.
        const shift = (round - 1 + wi) % targets.length;
        const order = [...targets.slice(shift), ...targets.slice(0, shift)];
        for (const t of order) {
          if (dropped.has(t)) continue;
          // The same seed for every target in this (round, workload): they see the same ops.
          const stream = new OpStream(workload, cfg.keys, mulberry32(cfg.seed + round * 1_000 + wi), zipf);
          const phase = progress.phase(`[${cfg.label}] round ${round}/${cfg.rounds} workload ${workload.name} ${t.name}`, cfg.ops);
          t.takeCounters();
          const others = targets.filter((x) => x !== t).flatMap((x) => x.processes);
          const othersBefore = cpuSnapshot(others);
          const machineBefore = machineCpu();
          const before = cpuSnapshot(t.processes);
          const startMicros = nowMicros();
          const r = await runClosedLoop({ ops: cfg.ops, minDurationMs: cfg.minDurationMs, ...(cfg.durationMs ? { durationMs: cfg.durationMs } : {}), concurrency: cfg.concurrency, next: () => stream.next(), exec: exec(t, version), onProgress: phase.update });
          if (DKV_TARGETS.includes(t.name)) dkvWindows.push({ startMicros, endMicros: nowMicros() });
          if (PROFILED_FLOORS.includes(t.name)) floorWindows.push({ startMicros, endMicros: nowMicros() });
          const after = cpuSnapshot(t.processes);
          const cpu = cpuDelta(before, after, t.processes);
          const othersCpu = cpuDelta(othersBefore, cpuSnapshot(others), others);
          const noise = foreignCpu(machineBefore, machineCpu(), cpu.totalSeconds + othersCpu.totalSeconds - (othersCpu.byRole.client ?? 0));
          const memory: ProcessMemory[] = t.processes.map((p) => ({ role: p.role, pid: p.pid, rssPeakBytes: 0, rssBytes: 0, ...memoryOf(p.pid) }));
          const rssPeakBytes = memory.filter((_m, i) => t.processes[i]!.holdsData).reduce((a, m) => a + m.rssPeakBytes, 0);
          phase.end(errorNote(r.errors));
          const errorCount = Object.values(r.errors).reduce((a, b) => a + b, 0);
          measurements.push({
            target: t.name,
            workload: workload.name,
            round,
            ops: r.ops,
            elapsedMs: r.elapsedMs,
            throughput: r.ops / (r.elapsedMs / 1000),
            latency: summarise(r.all),
            latencyByKind: { read: summarise(r.byKind.read), update: summarise(r.byKind.update) },
            latencyHistogram: hdr.encodeIntoCompressedBase64(r.all),
            errors: r.errors,
            errorCount,
            cpuSecondsByRole: cpu.byRole,
            cpuSeconds: cpu.totalSeconds,
            cpuSecondsPerKiloOps: r.ops > 0 ? (cpu.totalSeconds / r.ops) * 1000 : NaN,
            // The idle targets' own CPU while this one ran (the load generator's is not theirs).
            idleTargetsCpuSeconds: othersCpu.totalSeconds - (othersCpu.byRole.client ?? 0),
            foreignCpuSeconds: noise.foreignSeconds,
            stealCpuSeconds: noise.stealSeconds,
            rssPeakBytes,
            memory,
            counters: t.takeCounters(),
          });
          // A process that died makes this run's figures (and every later one) meaningless:
          // say so loudly and stop measuring that target.
          const problems = t.health();
          if (problems.length) {
            failures.push({ target: t.name, round, workload: workload.name, problems });
            dropped.add(t);
            progress.say(`! ${t.name} is broken after round ${round} workload ${workload.name}; not measured any further:\n  ${problems.join('\n  ')}`);
          }
        }
      }
    }
  } finally {
    for (const t of targets) {
      await t.stop().catch((err) => progress.say(`stopping ${t.name}: ${(err as Error).message}`));
      activeTargets.delete(t);
    }
    if (!cfg.keepData) rmSync(dir, { recursive: true, force: true });
  }

  let profile: ProfileSummary | undefined;
  let profileText: string | undefined;
  let floorProfile: ProfileSummary | undefined;
  let floorProfileText: string | undefined;
  if (cfg.cpuProfDir) {
    const files = (readdirSync(cfg.cpuProfDir, { recursive: true }) as string[]).filter(isMainThreadProfile);
    // The floor's node n1 is profiled apart from dkv's, each within its own measured windows.
    const onFloor = (f: string) => PROFILED_FLOORS.some((floor) => f.startsWith(`${floor}/`));
    const dkvFiles = files.filter((f) => !onFloor(f)).map((f) => join(cfg.cpuProfDir!, f));
    const floorFiles = files.filter(onFloor).map((f) => join(cfg.cpuProfDir!, f));
    if (dkvFiles.length > 0) {
      profile = summariseProfiles(dkvFiles.map(readProfile), 30, dkvWindows);
      profileText = formatProfileSummary(profile, 30);
    }
    if (floorFiles.length > 0) {
      floorProfile = summariseProfiles(floorFiles.map(readProfile), 30, floorWindows);
      floorProfileText = formatProfileSummary(floorProfile, 30);
    }
  }
  const { workloads, ...rest } = cfg;
  return {
    config: { ...rest, workloads: workloads.map((w) => w.name) },
    targets: targets.map((t) => ({ name: t.name, description: t.description })),
    preload,
    warmup,
    measurements,
    failures,
    ...(profile ? { profile } : {}),
    ...(profileText ? { profileText } : {}),
    ...(floorProfile ? { floorProfile } : {}),
    ...(floorProfileText ? { floorProfileText } : {}),
  };
}
