import { assertValidName } from './subjects.ts';

/** Cluster-wide settings: every node of a cluster must run with the same values. */
export interface ClusterSettings {
  readonly cluster: string;
  /** Replicas per key. Invariant: 1 <= r, w <= n. */
  readonly n: number;
  readonly r: number;
  readonly w: number;
  /** Ring partitions, a power of two. */
  readonly q: number;
  readonly requestTimeoutMs: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
}

export const DEFAULT_SETTINGS: ClusterSettings = {
  cluster: 'local',
  n: 3,
  r: 2,
  w: 2,
  q: 64,
  requestTimeoutMs: 5_000,
  keyBytesMax: 1024,
  // NATS' default max_payload is 1 MiB; 256 KiB leaves room for a few siblings in one get reply.
  valueBytesMax: 256 * 1024,
};

type Source = Record<string, string | number | undefined>;

/** Flag (camelCase) or environment variable (DKV_*) wins over the default, flags over env. */
export function settingsFrom(flags: Source, env: NodeJS.ProcessEnv = {}): ClusterSettings {
  const pick = (flag: string, envName: string): string | number | undefined => flags[flag] ?? env[envName];
  const int = (flag: string, envName: string, fallback: number): number => {
    const raw = pick(flag, envName);
    if (raw === undefined || raw === '') return fallback;
    const n = typeof raw === 'number' ? raw : Number(raw);
    if (!Number.isSafeInteger(n)) throw new RangeError(`--${flag} / ${envName} must be an integer, got ${JSON.stringify(raw)}`);
    return n;
  };
  const cluster = String(pick('cluster', 'DKV_CLUSTER') ?? DEFAULT_SETTINGS.cluster);
  const settings: ClusterSettings = {
    cluster,
    n: int('n', 'DKV_N', DEFAULT_SETTINGS.n),
    r: int('r', 'DKV_R', DEFAULT_SETTINGS.r),
    w: int('w', 'DKV_W', DEFAULT_SETTINGS.w),
    q: int('q', 'DKV_Q', DEFAULT_SETTINGS.q),
    requestTimeoutMs: int('timeoutMs', 'DKV_TIMEOUT_MS', DEFAULT_SETTINGS.requestTimeoutMs),
    keyBytesMax: DEFAULT_SETTINGS.keyBytesMax,
    valueBytesMax: int('valueBytesMax', 'DKV_VALUE_BYTES_MAX', DEFAULT_SETTINGS.valueBytesMax),
  };
  validateSettings(settings);
  return settings;
}

export function validateSettings(s: ClusterSettings): void {
  assertValidName('cluster', s.cluster);
  if (s.n < 1 || s.n > 16) throw new RangeError(`N must be in 1..16, got ${s.n}`);
  if (s.r < 1 || s.r > s.n) throw new RangeError(`R must be in 1..N (${s.n}), got ${s.r}`);
  if (s.w < 1 || s.w > s.n) throw new RangeError(`W must be in 1..N (${s.n}), got ${s.w}`);
  if (s.q < 1 || s.q > 4096 || (s.q & (s.q - 1)) !== 0) throw new RangeError(`Q must be a power of two in 1..4096, got ${s.q}`);
  if (s.requestTimeoutMs < 10) throw new RangeError(`request timeout must be at least 10 ms, got ${s.requestTimeoutMs}`);
  if (s.valueBytesMax < 1 || s.valueBytesMax > 768 * 1024) {
    throw new RangeError(`value size limit must be in 1..786432 bytes (NATS payloads are at most 1 MiB), got ${s.valueBytesMax}`);
  }
}
