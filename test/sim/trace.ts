/**
 * What a simulation run did, in two forms: a rolling hash of every event, so two runs of one seed
 * can be compared exactly (any divergence, however small, changes it), and the last few events in
 * words, for the report when a run fails.
 */
import { fnv1a32 } from './random.ts';

/** Events kept in words for a failure report. */
export const TRACE_EVENTS_KEPT_MAX = 200;

export class Trace {
  #hash = 0x811c9dc5;
  #count = 0;
  readonly #ring: string[] = [];
  #next = 0;

  constructor(private readonly keptMax = TRACE_EVENTS_KEPT_MAX) {}

  /** Records one event; `kind|subject|time` goes into the hash, `detail` only into the words. */
  record(kind: string, subject: string, timeMs: number, detail = ''): void {
    const line = `${kind}|${subject}|${timeMs}`;
    // A separator after each event, so "ab"+"c" and "a"+"bc" hash differently.
    this.#hash = fnv1a32(`${line}\n`, this.#hash);
    this.#count++;
    const words = detail ? `${line}|${detail}` : line;
    if (this.#ring.length < this.keptMax) this.#ring.push(words);
    else this.#ring[this.#next] = words;
    this.#next = (this.#next + 1) % this.keptMax;
  }

  /** The hash as 8 hex digits. */
  get hash(): string {
    return this.#hash.toString(16).padStart(8, '0');
  }

  get count(): number {
    return this.#count;
  }

  /** The last events, oldest first. */
  recent(): string[] {
    if (this.#ring.length < this.keptMax) return [...this.#ring];
    return [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}
