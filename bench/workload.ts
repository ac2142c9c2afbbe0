/**
 * YCSB core workloads A, B, C as an operation stream: which key, read or update. Pure: the
 * randomness is passed in, so a seed reproduces the exact sequence.
 */
import { mulberry32, type Random } from './random.ts';
import { Zipf } from './zipf.ts';

export type WorkloadName = 'A' | 'B' | 'C';

export interface Workload {
  readonly name: WorkloadName;
  readonly description: string;
  /** Share of reads in [0, 1]; the rest are updates. */
  readonly readProportion: number;
}

export const WORKLOADS: Readonly<Record<WorkloadName, Workload>> = {
  A: { name: 'A', description: 'update heavy: 50% reads, 50% updates', readProportion: 0.5 },
  B: { name: 'B', description: 'read mostly: 95% reads, 5% updates', readProportion: 0.95 },
  C: { name: 'C', description: 'read only: 100% reads', readProportion: 1 },
};

export function parseWorkloads(text: string): Workload[] {
  return text.split(',').map((t) => t.trim().toUpperCase()).filter(Boolean).map((name) => {
    const w = WORKLOADS[name as WorkloadName];
    if (!w) throw new RangeError(`unknown workload ${JSON.stringify(name)}: expected one of ${Object.keys(WORKLOADS).join(', ')}`);
    return w;
  });
}

export type OpKind = 'read' | 'update';

export interface Op {
  readonly kind: OpKind;
  /** In [0, keys). */
  readonly keyIndex: number;
}

/** Key names are valid everywhere: dkv keys, JetStream KV keys (no spaces, no wildcards). */
export function keyName(index: number): string {
  return `user${index}`;
}

/**
 * A value of exactly `bytes` ASCII bytes that names its key and a version, so a reply can be
 * checked: a value that does not start with `<key>:` is a wrong answer, not a fast one.
 */
export function valueFor(key: string, version: number, bytes: number): string {
  const head = `${key}:${version}:`;
  if (head.length >= bytes) return head.slice(0, bytes);
  return head + 'x'.repeat(bytes - head.length);
}

/** True when `value` could have been written for `key` with this value size. */
export function isValueOf(key: string, value: string, bytes: number): boolean {
  if (value.length !== bytes) return false;
  const head = `${key}:`;
  return head.length >= bytes ? head.startsWith(value) : value.startsWith(head);
}

export class OpStream {
  private readonly zipf: Zipf;

  constructor(
    readonly workload: Workload,
    readonly keys: number,
    private readonly random: Random,
    zipf?: Zipf,
  ) {
    this.zipf = zipf ?? new Zipf({ items: keys, scrambleSeed: mulberry32(0x5eed) });
    if (this.zipf.items !== keys) throw new RangeError(`zipf over ${this.zipf.items} items used for ${keys} keys`);
  }

  next(): Op {
    // Read/update decided first, then the key: the two draws are independent.
    const kind: OpKind = this.random() < this.workload.readProportion ? 'read' : 'update';
    return { kind, keyIndex: this.zipf.next(this.random) };
  }
}
