/**
 * Where a profiled process spent its time: reads V8 .cpuprofile files (node --cpu-prof) and
 * sums self time per function, per file and per package (dkv's own code, each dependency,
 * Node's internals, GC, idle). Several files (one per node) are summed together.
 *
 *   node --import tsx bench/profile.ts bench/results/profiles-<stamp>/dkv-n1.cpuprofile ... [--top 30]
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT_URL = pathToFileURL(fileURLToPath(new URL('../', import.meta.url))).href;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface Entry {
  readonly name: string;
  readonly selfMs: number;
  /** Share of busy time: everything but (idle). */
  readonly busyShare: number;
}

export interface ProfileSummary {
  readonly files: number;
  /** True when only the samples inside the measured windows were counted. */
  readonly windowed: boolean;
  readonly totalMs: number;
  readonly idleMs: number;
  readonly busyMs: number;
  readonly functions: Entry[];
  readonly byFile: Entry[];
  readonly packages: Entry[];
}

const SPECIAL = new Set(['(idle)', '(program)', '(garbage collector)', '(root)']);

function shortUrl(url: string): string {
  if (url.startsWith(ROOT_URL)) return url.slice(ROOT_URL.length);
  return url.replace(/^file:\/\//, '');
}

/** Which package a frame belongs to: dkv's own directories, a dependency, or Node itself. */
export function packageOf(frame: CallFrame): string {
  if (SPECIAL.has(frame.functionName) && !frame.url) return frame.functionName;
  const url = frame.url;
  if (!url) return '(native / builtin)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  const rel = shortUrl(url);
  if (rel !== url) return `dkv ${rel.split('/')[0]}/`;
  return 'other';
}

/**
 * A stretch of time in microseconds of the monotonic clock. V8 stamps profile samples with the
 * same clock as process.hrtime() (CLOCK_MONOTONIC on Linux), so the harness can keep only the
 * samples taken while it was measuring, leaving out start-up, module loading and the preload.
 */
export interface Window {
  readonly startMicros: number;
  readonly endMicros: number;
}

export function nowMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** Self time per sample: the time until the next sample (DevTools' convention). */
export function selfTimes(profile: CpuProfile, windows?: readonly Window[]): Map<number, number> {
  const byNode = new Map<number, number>();
  let t = profile.startTime;
  const stamps = profile.timeDeltas.map((d) => (t += d));
  const inside = (at: number) => !windows || windows.some((w) => at >= w.startMicros && at < w.endMicros);
  for (let i = 0; i < profile.samples.length; i++) {
    if (!inside(stamps[i]!)) continue;
    const next = i + 1 < stamps.length ? stamps[i + 1]! : profile.endTime;
    const micros = Math.max(0, next - stamps[i]!);
    const id = profile.samples[i]!;
    byNode.set(id, (byNode.get(id) ?? 0) + micros);
  }
  return byNode;
}

export function summariseProfiles(profiles: readonly CpuProfile[], top = 25, windows?: readonly Window[]): ProfileSummary {
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const pkg = new Map<string, number>();
  let totalMicros = 0;
  let idleMicros = 0;
  const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (const [id, micros] of selfTimes(p, windows)) {
      const frame = nodes.get(id)?.callFrame;
      if (!frame) continue;
      totalMicros += micros;
      if (frame.functionName === '(idle)') {
        idleMicros += micros;
        continue;
      }
      // Code loaded through tsx reports line 0 for every function: the file alone is then shown.
      const where = frame.url ? `${shortUrl(frame.url)}${frame.lineNumber > 0 ? `:${frame.lineNumber + 1}` : ''}` : '';
      add(fn, `${frame.functionName || '(anonymous)'}${where ? ' ' + where : ''}`, micros);
      add(file, frame.url ? shortUrl(frame.url) : frame.functionName || '(native)', micros);
      add(pkg, packageOf(frame), micros);
    }
  }
  const busy = totalMicros - idleMicros;
  const entries = (m: Map<string, number>, n: number): Entry[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([name, micros]) => ({ name, selfMs: micros / 1000, busyShare: busy > 0 ? micros / busy : 0 }));
  return {
    files: profiles.length,
    windowed: windows !== undefined,
    totalMs: totalMicros / 1000,
    idleMs: idleMicros / 1000,
    busyMs: busy / 1000,
    functions: entries(fn, top),
    byFile: entries(file, top),
    packages: entries(pkg, top),
  };
}

/**
 * Who calls a function: its self time split by the chain of its nearest `depth` callers, e.g.
 * to see which code ends in the native `writeBuffer` (a socket write, a file write ...).
 */
export function callersOf(profiles: readonly CpuProfile[], functionName: string, depth = 4, windows?: readonly Window[], top = 5): Entry[] {
  const chains = new Map<string, number>();
  let total = 0;
  for (const p of profiles) {
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of (n as ProfileNode & { children?: number[] }).children ?? []) parent.set(c, n.id);
    for (const [id, micros] of selfTimes(p, windows)) {
      if (nodes.get(id)?.callFrame.functionName !== functionName) continue;
      const chain: string[] = [];
      for (let at = parent.get(id); at !== undefined && chain.length < depth; at = parent.get(at)) {
        const f = nodes.get(at)!.callFrame;
        chain.push(`${f.functionName || '(anonymous)'}${f.url ? ` (${shortUrl(f.url)})` : ''}`);
      }
      const k = chain.join(' < ');
      chains.set(k, (chains.get(k) ?? 0) + micros);
      total += micros;
    }
  }
  return [...chains.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([name, micros]) => ({ name, selfMs: micros / 1000, busyShare: total > 0 ? micros / total : 0 }));
}

/** node --cpu-prof names files CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is main. */
export function isMainThreadProfile(path: string): boolean {
  return /CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(path);
}

export function readProfile(path: string): CpuProfile {
  return JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
}

export function formatProfileSummary(s: ProfileSummary, top = 25): string {
  const line = (e: Entry) => `${(e.busyShare * 100).toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(8)} ms  ${e.name}`;
  return [
    `${s.files} profile(s)${s.windowed ? ', measured runs only' : ''}: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.busyMs / 1000).toFixed(1)} s busy (${s.totalMs > 0 ? ((s.busyMs / s.totalMs) * 100).toFixed(0) : 0}%), shares below are of busy time`,
    '',
    'self time by package:',
    ...s.packages.slice(0, top).map(line),
    '',
    'self time by function:',
    ...s.functions.slice(0, top).map(line),
    '',
    'self time by file:',
    ...s.byFile.slice(0, Math.min(top, 15)).map(line),
  ].join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const at = args.indexOf(name);
    if (at < 0) return undefined;
    const [, value] = args.splice(at, 2);
    return value;
  };
  const top = Number(flag('--top') ?? 25);
  const callers = flag('--callers');
  const files = args;
  if (files.length === 0) {
    process.stderr.write('usage: node --import tsx bench/profile.ts FILE.cpuprofile... [--top N] [--callers FUNCTION]\n');
    process.exit(2);
  }
  const profiles = files.map(readProfile);
  if (callers) {
    for (const e of callersOf(profiles, callers, 6, undefined, top)) process.stdout.write(`${(e.busyShare * 100).toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(8)} ms  ${e.name}\n`);
  } else {
    process.stdout.write(formatProfileSummary(summariseProfiles(profiles, top), top) + '\n');
  }
}
