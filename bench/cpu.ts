/**
 * CPU time and memory of processes by pid, read from Linux's /proc: CPU seconds from
 * /proc/<pid>/stat (utime + stime, in clock ticks), peak RSS from /proc/<pid>/status (VmHWM).
 * The load generator measures itself with process.cpuUsage(), which has microsecond resolution.
 * The parsers are pure so that they can be tested on captured lines.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
}

/**
 * One line of /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself
 * hold spaces and parentheses, so fields are counted from the last ')'. utime and stime are
 * fields 14 and 15 (proc(5)).
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 80)}`);
  const pid = Number(line.slice(0, open).trim());
  const comm = line.slice(open + 1, close);
  // After ')': field 3 (state) is rest[0], so field k is rest[k - 3].
  const rest = line.slice(close + 1).trim().split(/\s+/);
  const utimeTicks = Number(rest[14 - 3]);
  const stimeTicks = Number(rest[15 - 3]);
  if (!Number.isFinite(pid) || !Number.isFinite(utimeTicks) || !Number.isFinite(stimeTicks)) {
    throw new Error(`malformed /proc/<pid>/stat line: ${line.slice(0, 200)}`);
  }
  return { pid, comm, utimeTicks, stimeTicks };
}

/** A `VmXXX:   1234 kB` field of /proc/<pid>/status, in bytes; undefined when absent. */
export function parseStatusKb(status: string, field: 'VmHWM' | 'VmRSS'): number | undefined {
  const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
  return m ? Number(m[1]) * 1024 : undefined;
}

let clockTicksPerSecond: number | undefined;

/** `getconf CLK_TCK`, almost always 100 on Linux. */
export function clockTicks(): number {
  if (clockTicksPerSecond === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(out.stdout?.trim());
    clockTicksPerSecond = out.status === 0 && Number.isFinite(n) && n > 0 ? n : 100;
  }
  return clockTicksPerSecond;
}

/** CPU seconds (user + system) used so far by a process; undefined if it is gone. */
export function cpuSecondsOf(pid: number): number | undefined {
  try {
    const s = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    return (s.utimeTicks + s.stimeTicks) / clockTicks();
  } catch {
    return undefined;
  }
}

export interface Memory {
  readonly rssPeakBytes: number;
  readonly rssBytes: number;
}

export function memoryOf(pid: number): Memory | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return { rssPeakBytes: parseStatusKb(status, 'VmHWM') ?? 0, rssBytes: parseStatusKb(status, 'VmRSS') ?? 0 };
  } catch {
    return undefined;
  }
}

/** A process whose CPU counts towards a target: its role says what it is in the report. */
export interface WatchedProcess {
  readonly role: string;
  readonly pid: number;
  /** Counted in the target's server-side peak RSS (dkv nodes, the peer's server, the echo responder). */
  readonly holdsData: boolean;
}

export interface CpuSnapshot {
  readonly clientMicros: NodeJS.CpuUsage;
  readonly seconds: ReadonlyMap<number, number>;
}

export function cpuSnapshot(processes: readonly WatchedProcess[]): CpuSnapshot {
  const seconds = new Map<number, number>();
  for (const p of processes) seconds.set(p.pid, cpuSecondsOf(p.pid) ?? 0);
  return { clientMicros: process.cpuUsage(), seconds };
}

export interface CpuDelta {
  /** CPU seconds per role, the load generator's own under "client". */
  readonly byRole: Record<string, number>;
  readonly totalSeconds: number;
}

export function cpuDelta(before: CpuSnapshot, after: CpuSnapshot, processes: readonly WatchedProcess[]): CpuDelta {
  const clientMicros = after.clientMicros.user - before.clientMicros.user + (after.clientMicros.system - before.clientMicros.system);
  const byRole: Record<string, number> = { client: clientMicros / 1e6 };
  for (const p of processes) {
    const d = (after.seconds.get(p.pid) ?? 0) - (before.seconds.get(p.pid) ?? 0);
    byRole[p.role] = (byRole[p.role] ?? 0) + Math.max(0, d);
  }
  const totalSeconds = Object.values(byRole).reduce((a, b) => a + b, 0);
  return { byRole, totalSeconds };
}

export interface MachineCpu {
  /** Ticks spent busy on all CPUs together: user, nice, system, irq, softirq. */
  readonly busyTicks: number;
  /** Ticks the hypervisor gave to someone else while we wanted to run. */
  readonly stealTicks: number;
}

/**
 * The first line of /proc/stat: `cpu  user nice system idle iowait irq softirq steal guest
 * guest_nice` (proc(5)); guest time is already inside user, so it is not added again.
 */
export function parseMachineCpu(line: string): MachineCpu {
  const f = line.trim().split(/\s+/);
  if (f[0] !== 'cpu') throw new Error(`not the total cpu line of /proc/stat: ${line.slice(0, 80)}`);
  const n = (i: number) => Number(f[i] ?? 0);
  return { busyTicks: n(1) + n(2) + n(3) + n(6) + n(7), stealTicks: n(8) };
}

export function machineCpu(): MachineCpu | undefined {
  try {
    return parseMachineCpu(readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!);
  } catch {
    return undefined;
  }
}

/**
 * CPU seconds used on the machine by anything that is not ours (other programs, a test suite
 * running meanwhile) and stolen by the hypervisor, between two readings: the noise detector.
 */
export function foreignCpu(before: MachineCpu | undefined, after: MachineCpu | undefined, oursSeconds: number): { foreignSeconds: number; stealSeconds: number } {
  if (!before || !after) return { foreignSeconds: 0, stealSeconds: 0 };
  const busy = (after.busyTicks - before.busyTicks) / clockTicks();
  return { foreignSeconds: Math.max(0, busy - oursSeconds), stealSeconds: (after.stealTicks - before.stealTicks) / clockTicks() };
}
