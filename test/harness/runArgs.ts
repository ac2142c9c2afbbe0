/** Flags of the long-run tiers' entry points (`npm run chaos`, `npm run fuzz`). */

export function flag(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

export function positiveInt(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`--${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

/** A seed given, or one drawn and printed by the caller, so that a failing run can be replayed. */
export function seedArg(): number {
  return positiveInt('seed', flag('seed'), 1 + Math.floor(Math.random() * 2 ** 31));
}

/** Ended by a signal, a run still goes through 'exit', where the harness kills its children. */
export function exitOnSignals(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
}
