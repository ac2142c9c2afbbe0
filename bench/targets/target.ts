/**
 * What the runner needs from a system under test. A target owns its processes (servers,
 * nodes, responders) and one NATS connection of the load generator.
 *
 * An operation resolves to `undefined` when it succeeded and was checked, or to an error code
 * (the protocol's own code, or one of the harness's: `not_found`, `wrong_value`, `bad_reply`,
 * `client_timeout`, `no_responders`, `client_error`). It never rejects.
 */
import type { WatchedProcess } from '../cpu.ts';

export type OpOutcome = string | undefined;

export interface TargetSettings {
  readonly keys: number;
  readonly valueBytes: number;
}

export interface Target {
  /** `dkv`, `jetstream` or `echo`: the name in the table and the JSON. */
  readonly name: string;
  /** One line on what it is, for the report. */
  readonly description: string;
  /** Every process of this target, not the load generator. */
  readonly processes: readonly WatchedProcess[];
  /** Keys [0, count) were written by the preload: from now on a miss on them is an error. */
  markPreloaded(count: number): void;
  read(keyIndex: number): Promise<OpOutcome>;
  update(keyIndex: number, version: number): Promise<OpOutcome>;
  /** Problems that make further measurement meaningless, e.g. a node that exited; empty when healthy. */
  health(): string[];
  /** Sanity figures kept by the target since the last call (siblings seen, warnings logged). */
  takeCounters(): Record<string, number>;
  stop(): Promise<void>;
}

/**
 * The load generator's NATS connection, the same for every target. Without noAsyncTraces,
 * nats.js builds an Error (a stack capture) for every request, which costs the load generator
 * a measurable share of its CPU; dkv's own client library (src/client/client.ts) turns them off too.
 */
export const loadGeneratorConnection = (servers: string, name: string) => ({ servers, name, noAsyncTraces: true });

/** A nats-server started by the harness that is no longer running, described. */
export function natsServerDeath(name: string, proc: { exitCode: number | null; signalCode: NodeJS.Signals | null }): string[] {
  return proc.exitCode === null && proc.signalCode === null ? [] : [`${name} exited (code ${proc.exitCode}, signal ${proc.signalCode})`];
}

/** Harness-side error code for a request that failed in the NATS client. */
export function clientErrorCode(err: unknown): string {
  const text = `${(err as Error)?.message ?? err} ${(err as any)?.cause?.message ?? ''}`;
  if (/no responders/i.test(text)) return 'no_responders';
  if (/timeout/i.test(text)) return 'client_timeout';
  return 'client_error';
}
