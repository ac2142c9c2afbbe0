/**
 * Version vectors: a map from actor id to the number of events seen from that actor, the
 * causal context dkv hands to clients (the `join` of a dotted version vector set) and takes back
 * on put/delete.
 *
 * Plain data (an array of pairs) so that it serializes as is through msgpack and JSON.
 * Every function here is pure and total on valid vectors; none of them validates its input
 * (use `isVersionVector` / `fromEntries` at the trust boundary).
 */

/**
 * Invariants: sorted by id (JavaScript string order, i.e. UTF-16 code units), no duplicate ids,
 * ids non-empty strings, counters positive safe integers. An id that is absent has counter 0.
 */
export type VersionVector = ReadonlyArray<readonly [id: string, counter: number]>;

export const EMPTY_VV: VersionVector = Object.freeze([]) as VersionVector;

/** The counter of `id` in `vv`, 0 when absent. */
export function get(vv: VersionVector, id: string): number {
  for (const [i, n] of vv) {
    if (i === id) return n;
    if (i > id) break; // sorted: it is not further on
  }
  return 0;
}

/** a >= b pointwise: a has seen every event b has seen. Reflexive. */
export function descends(a: VersionVector, b: VersionVector): boolean {
  let i = 0;
  for (const [id, nb] of b) {
    while (i < a.length && a[i]![0] < id) i++;
    const ea = a[i];
    if (ea === undefined || ea[0] !== id || ea[1] < nb) return false;
  }
  return true;
}

export function equal(a: VersionVector, b: VersionVector): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const ea = a[i]!;
    const eb = b[i]!;
    if (ea[0] !== eb[0] || ea[1] !== eb[1]) return false;
  }
  return true;
}

/** a has seen everything b has, and more. */
export function dominates(a: VersionVector, b: VersionVector): boolean {
  return descends(a, b) && !equal(a, b);
}

/** Neither has seen everything the other has (equal vectors are not concurrent). */
export function concurrent(a: VersionVector, b: VersionVector): boolean {
  return !descends(a, b) && !descends(b, a);
}

/** Pointwise maximum: the least vector that descends both. */
export function merge(a: VersionVector, b: VersionVector): VersionVector {
  const out: Array<readonly [string, number]> = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const ea = a[i];
    const eb = b[j];
    if (eb === undefined || (ea !== undefined && ea[0] < eb[0])) {
      out.push(ea!);
      i++;
    } else if (ea === undefined || eb[0] < ea[0]) {
      out.push(eb);
      j++;
    } else {
      out.push(ea[1] >= eb[1] ? ea : eb);
      i++;
      j++;
    }
  }
  return out;
}

/** One more event from `id`. */
export function increment(vv: VersionVector, id: string): VersionVector {
  const out: Array<readonly [string, number]> = [];
  let done = false;
  for (const e of vv) {
    if (!done && e[0] === id) {
      out.push([id, e[1] + 1]);
      done = true;
    } else {
      if (!done && e[0] > id) {
        out.push([id, 1]);
        done = true;
      }
      out.push(e);
    }
  }
  if (!done) out.push([id, 1]);
  return out;
}

/** Is `x` a valid version vector (shape and every invariant above)? */
export function isVersionVector(x: unknown): x is VersionVector {
  if (!Array.isArray(x)) return false;
  let prev: string | undefined;
  for (const e of x as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2) return false;
    const [id, n] = e as unknown[];
    if (typeof id !== 'string' || id === '') return false;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) return false;
    if (prev !== undefined && !(prev < id)) return false; // sorted and unique
    prev = id;
  }
  return true;
}

/**
 * Builds a version vector from entries in any order. Throws a RangeError on a duplicate id, an
 * empty id or a counter that is not a positive safe integer.
 */
export function fromEntries(entries: Iterable<readonly [string, number]>): VersionVector {
  const out: Array<readonly [string, number]> = [];
  for (const [id, n] of entries) {
    if (typeof id !== 'string' || id === '') throw new RangeError(`version vector id must be a non-empty string, got ${JSON.stringify(id)}`);
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new RangeError(`version vector counter for ${JSON.stringify(id)} must be a positive safe integer, got ${String(n)}`);
    }
    out.push([id, n]);
  }
  out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  for (let i = 1; i < out.length; i++) {
    if (out[i - 1]![0] === out[i]![0]) throw new RangeError(`version vector has id ${JSON.stringify(out[i]![0])} twice`);
  }
  return out;
}
