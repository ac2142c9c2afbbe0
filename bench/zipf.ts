/**
 * YCSB's zipfian key chooser (Gray et al., "Quickly Generating Billion-Record Synthetic
 * Databases", SIGMOD 1994, as in YCSB's ZipfianGenerator), with s = 0.99 by default.
 *
 * Rank 0 is the most popular item. With `scramble`, ranks go through a seeded permutation of
 * [0, n) so that the hot keys are spread over the key space (and so over the ring's partitions)
 * instead of being k0, k1, k2 ... An exact permutation is used rather than YCSB's hash-mod-n so
 * that every key stays reachable and the rank-frequency shape is unchanged.
 *
 * Pure: the randomness comes in as a parameter.
 */
import { intBelow, type Random } from './random.ts';

export const ZIPF_S_DEFAULT = 0.99;
/** A bound on the key space: the zeta sum and the permutation are O(n) in time and memory. */
export const ZIPF_ITEMS_MAX = 100_000_000;

/** The generalised harmonic number: sum over i = 1..n of 1 / i^s. */
export function zeta(n: number, s: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 1 / Math.pow(i, s);
  return sum;
}

export interface ZipfOptions {
  readonly items: number;
  readonly s?: number;
  /** Seed of the rank-to-index permutation; absent means rank = index (k0 is the hottest). */
  readonly scrambleSeed?: Random;
}

export class Zipf {
  readonly items: number;
  readonly s: number;
  /** Invariant: zetaN = zeta(items, s), the normaliser; P(rank 0) = 1 / zetaN. */
  readonly zetaN: number;
  private readonly alpha: number;
  private readonly eta: number;
  private readonly half: number;
  /** Invariant: absent, or a permutation of [0, items). */
  private readonly permutation: Int32Array | undefined;

  constructor(opts: ZipfOptions) {
    const { items } = opts;
    const s = opts.s ?? ZIPF_S_DEFAULT;
    if (!Number.isSafeInteger(items) || items < 1 || items > ZIPF_ITEMS_MAX) throw new RangeError(`zipf items must be an integer in 1..${ZIPF_ITEMS_MAX}, got ${items}`);
    if (!(s > 0 && s < 1)) throw new RangeError(`zipf s must be in (0, 1) for this generator, got ${s}`);
    this.items = items;
    this.s = s;
    this.zetaN = zeta(items, s);
    const zeta2 = zeta(2, s);
    this.alpha = 1 / (1 - s);
    this.eta = (1 - Math.pow(2 / items, 1 - s)) / (1 - zeta2 / this.zetaN);
    this.half = 1 + Math.pow(0.5, s);
    this.permutation = opts.scrambleSeed ? shuffledRange(items, opts.scrambleSeed) : undefined;
  }

  /** A popularity rank in [0, items): 0 is the hottest. */
  nextRank(random: Random): number {
    const u = random();
    const uz = u * this.zetaN;
    if (uz < 1) return 0;
    if (uz < this.half) return Math.min(1, this.items - 1);
    const rank = Math.floor(this.items * Math.pow(this.eta * u - this.eta + 1, this.alpha));
    // Floating point can land exactly on `items` for u close to 1.
    return Math.min(rank, this.items - 1);
  }

  /** A key index in [0, items), the rank mapped through the permutation when scrambled. */
  next(random: Random): number {
    const rank = this.nextRank(random);
    return this.permutation ? this.permutation[rank]! : rank;
  }
}

/** Fisher-Yates over [0, n). */
export function shuffledRange(n: number, random: Random): Int32Array {
  const a = new Int32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = intBelow(random, i + 1);
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
  return a;
}
