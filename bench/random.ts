/**
 * A small seeded PRNG (mulberry32) for the load generator: the same seed gives the same key
 * sequence, so two runs (or two targets in one run) see the same workload. Not cryptographic.
 */
export type Random = () => number;

/** Uniform in [0, 1), 32 bits of state. */
export function mulberry32(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform integer in [0, n). */
export function intBelow(random: Random, n: number): number {
  return Math.floor(random() * n);
}
