import type { StorageEngine } from './engine.ts';

/** Volatile engine for tests and simulations: nothing survives the process. */
export class MemoryStorage<T> implements StorageEngine<T> {
  readonly kind = 'memory' as const;
  /** Map, not object, so keys such as `__proto__` stay plain data. Invariant: no empty inner map. */
  readonly #partitions = new Map<number, Map<string, T>>();

  get(partition: number, key: string): T | undefined {
    return this.#partitions.get(partition)?.get(key);
  }

  put(partition: number, key: string, value: T): Promise<void> {
    let keys = this.#partitions.get(partition);
    if (!keys) this.#partitions.set(partition, (keys = new Map()));
    keys.set(key, value);
    return Promise.resolve();
  }

  remove(partition: number, key: string): Promise<void> {
    const keys = this.#partitions.get(partition);
    if (keys?.delete(key) && keys.size === 0) this.#partitions.delete(partition);
    return Promise.resolve();
  }

  *entries(partition: number, after?: string): Iterable<[string, T]> {
    const keys = this.#partitions.get(partition);
    if (!keys) return;
    for (const key of [...keys.keys()].sort(compareCodePoints)) {
      if (after !== undefined && compareCodePoints(key, after) <= 0) continue;
      // The map may change while the caller iterates; skip what was removed meanwhile.
      if (keys.has(key)) yield [key, keys.get(key) as T];
    }
  }

  count(partition: number): number {
    return this.#partitions.get(partition)?.size ?? 0;
  }

  footprint(): { entries: number } {
    let entries = 0;
    for (const keys of this.#partitions.values()) entries += keys.size;
    return { entries };
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Code point order, the order lmdb's UTF-8 keys sort in, so both engines list keys alike.
 * Plain `<` compares UTF-16 units, which puts surrogate pairs (U+10000 and up) before U+E000..U+FFFF.
 */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}

/** Moves surrogates (0xD800..0xDFFF) above 0xFFFF-range units so the rank follows code points. */
function codePointRank(unit: number): number {
  if (unit >= 0xe000) return unit - 0x800;
  if (unit >= 0xd800) return unit + 0x2000;
  return unit;
}
