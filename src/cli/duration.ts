/**
 * `--ttl DURATION` of `dkv put`: a number with a unit (`500ms`, `30s`, `5m`, `2h`, `7d`) or bare
 * milliseconds, as a whole number of milliseconds. Anything else is refused here, before any
 * request is sent.
 */
const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ['ms', 1],
  ['s', 1_000],
  ['m', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
]);

export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new RangeError(`"${text}" is not a duration: a number and a unit, ms, s, m, h or d (e.g. 30s)`);
  const ms = Number(m[1]) * UNIT_MS.get(m[2] ?? 'ms')!;
  if (!Number.isSafeInteger(ms) || ms < 1) throw new RangeError(`"${text}" is not a whole, positive number of milliseconds`);
  return ms;
}
