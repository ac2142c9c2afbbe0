/**
 * The simulation's only source of randomness. A run is replayed from its seed alone, so nothing
 * under test/sim may draw from Math.random; every choice (latency, faults, queue-group member,
 * workload) comes from a stream derived here.
 *
 * xoshiro128** (fast, 32-bit state words, good statistical quality) seeded through splitmix32 so
 * that nearby seeds (1, 2, 3...) still give unrelated streams.
 */

/** FNV-1a 32-bit: turns a fork label into seed material (also used by the trace). */
export function fnv1a32(text: string, hash = 0x811c9dc5): number {
  let h = hash >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function splitmix32(state: { s: number }): number {
  state.s = (state.s + 0x9e3779b9) >>> 0;
  let z = state.s;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
  return (z ^ (z >>> 16)) >>> 0;
}

const TWO_POW_32 = 0x1_0000_0000;

export class Random {
  readonly seed: number;
  #a: number;
  #b: number;
  #c: number;
  #d: number;

  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new Error(`Random: seed must be an integer, got ${seed}`);
    this.seed = seed >>> 0;
    const sm = { s: this.seed };
    this.#a = splitmix32(sm);
    this.#b = splitmix32(sm);
    this.#c = splitmix32(sm);
    this.#d = splitmix32(sm);
    // xoshiro's one forbidden state; splitmix32 cannot give four zeros, but say so rather than trust it.
    if ((this.#a | this.#b | this.#c | this.#d) === 0) this.#a = 1;
  }

  /** A 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.#b, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.#b << 9) >>> 0;
    this.#c = (this.#c ^ this.#a) >>> 0;
    this.#d = (this.#d ^ this.#b) >>> 0;
    this.#b = (this.#b ^ this.#c) >>> 0;
    this.#a = (this.#a ^ this.#d) >>> 0;
    this.#c = (this.#c ^ t) >>> 0;
    this.#d = rotl(this.#d, 11);
    return result;
  }

  /** In [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** An integer in [0, maxExclusive). */
  int(maxExclusive: number): number {
    if (!Number.isInteger(maxExclusive) || maxExclusive <= 0 || maxExclusive > TWO_POW_32) {
      throw new Error(`Random.int: bound must be an integer in 1..2^32, got ${maxExclusive}`);
    }
    return Math.floor(this.next() * maxExclusive);
  }

  /** An integer in [min, max], both included. */
  between(min: number, max: number): number {
    if (max < min) throw new Error(`Random.between: max ${max} < min ${min}`);
    return min + this.int(max - min + 1);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Random.pick: empty array');
    return items[this.int(items.length)]!;
  }

  /** True with probability p. Draws even when p is 0 or 1, so changing a rate never shifts the other draws. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  /**
   * An independent stream named by `label`: it depends on this stream's seed and the label only,
   * not on how much this stream has been used, so adding a consumer never perturbs the others.
   * The same label gives the same stream.
   */
  fork(label: string): Random {
    return new Random(fnv1a32(label, fnv1a32(String(this.seed))));
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
