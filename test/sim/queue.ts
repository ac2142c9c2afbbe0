/**
 * The priority queue under the virtual clock's timers and the bus's deliveries: a binary heap
 * ordered by (due time, sequence). The sequence is the tie-break that makes equal-time events run
 * in the order they were scheduled, the same way every run; the simulation hands both queues one
 * shared sequence so the tie-break also holds between a timer and a delivery.
 */

export interface Timed {
  readonly dueMs: number;
  readonly seq: number;
}

/** Hands out the tie-break sequence; share one between queues that must interleave. */
export function sequence(): () => number {
  let n = 0;
  return () => ++n;
}

export function earlier(a: Timed, b: Timed): boolean {
  return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
}

export class TimedQueue<T extends Timed> {
  readonly #heap: T[] = [];

  get size(): number {
    return this.#heap.length;
  }

  peek(): T | undefined {
    return this.#heap[0];
  }

  push(item: T): void {
    const h = this.#heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && earlier(h[l]!, h[m]!)) m = l;
      if (r < h.length && earlier(h[r]!, h[m]!)) m = r;
      if (m === i) break;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
    return top;
  }
}
