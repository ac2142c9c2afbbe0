/**
 * The simulation's driver: one seed, one virtual clock, one bus, one event queue (the bus's
 * deliveries and the clock's timers, interleaved by due time and then by the order they were
 * scheduled). Between events the real code (nact actors, promises) runs to a standstill on
 * Node's own loop; since nothing real is pending (no sockets, no real timers), that too happens
 * in the same order every run, so a seed replays exactly and its trace hash says whether it did.
 */
import { SimBus, type BusFaults } from './bus.ts';
import { VirtualClock } from './clock.ts';
import { earlier, sequence } from './queue.ts';
import { Random } from './random.ts';
import { Trace, TRACE_EVENTS_KEPT_MAX } from './trace.ts';

/** Consecutive host rounds with nothing new before the host counts as quiet. */
export const SETTLE_QUIET_ROUNDS = 3;
/** Host rounds one settle may take; past it something loops without end (an actor messaging itself). */
export const SETTLE_ROUNDS_MAX = 10_000;
/** 2024-01-01T00:00:00Z: a fixed start, so wall-clock values in a trace replay too. */
export const SIM_EPOCH_MS_DEFAULT = 1_704_067_200_000;

export interface SimulationOptions {
  seed: number;
  epochMs?: number;
  faults?: Partial<BusFaults>;
  traceEventsKeptMax?: number;
  /** Quiet rounds settle waits for (default SETTLE_QUIET_ROUNDS): raise it for code with longer in-process chains. */
  settleQuietRounds?: number;
  /**
   * Whether the simulated code still has work of its own (e.g. messages in an actor's mailbox):
   * a round in which it says so is not quiet. It must look at this simulation's code only.
   */
  hostBusy?: () => boolean;
}

export interface SimError {
  readonly where: string;
  readonly err: unknown;
  readonly timeMs: number;
}

export class Simulation {
  readonly seed: number;
  readonly random: Random;
  readonly clock: VirtualClock;
  readonly bus: SimBus;
  readonly trace: Trace;
  /** Exceptions thrown by timer and subscriber callbacks: caught so the run goes on, kept so a test can fail on them. */
  readonly errors: SimError[] = [];
  #steps = 0;
  readonly #quietRounds: number;
  readonly #hostBusy: () => boolean;

  constructor(options: SimulationOptions) {
    this.seed = options.seed;
    this.#quietRounds = options.settleQuietRounds ?? SETTLE_QUIET_ROUNDS;
    this.#hostBusy = options.hostBusy ?? (() => false);
    this.random = new Random(options.seed);
    this.trace = new Trace(options.traceEventsKeptMax ?? TRACE_EVENTS_KEPT_MAX);
    const nextSeq = sequence();
    this.clock = new VirtualClock(options.epochMs ?? SIM_EPOCH_MS_DEFAULT, {
      nextSeq,
      onFire: (t) => this.trace.record('timer', `t${t.id}`, this.clock.now()),
      onTimerError: (err, t) => this.#error(`timer t${t.id}`, err),
    });
    this.bus = new SimBus({
      clock: this.clock,
      random: this.random.fork('bus'),
      nextSeq,
      ...(options.faults ? { faults: options.faults } : {}),
      onTrace: (kind, subject, detail) => this.trace.record(kind, subject, this.clock.now(), detail),
      onCallbackError: (err, where) => this.#error(where, err),
    });
  }

  /** Events run so far. */
  get steps(): number {
    return this.#steps;
  }

  /**
   * Lets the real code react to what just happened, on Node's own loop, until it is quiet:
   * SETTLE_QUIET_ROUNDS rounds in a row in which no delivery, timer or subscription was added or
   * removed (and `hostBusy` said no). Each round is one setImmediate: all microtasks drain, and
   * nact moves each actor on by one message.
   *
   * Quiet is judged from this simulation's own counters only, never from process-wide state
   * (such as pending setImmediates): another simulation or the test runner in the same process
   * must not change when this one moves on, or a seed would not replay. Ending early is safe:
   * the next event then simply arrives while the code is still working, as on a real network.
   */
  async settle(): Promise<void> {
    let quiet = 0;
    let last = this.#changes();
    for (let round = 1; round <= SETTLE_ROUNDS_MAX; round++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      const now = this.#changes();
      if (now === last && !this.#hostBusy()) {
        if (++quiet >= this.#quietRounds) return;
      } else {
        quiet = 0;
      }
      last = now;
    }
    throw new Error(`Simulation.settle: the host was still busy after SETTLE_ROUNDS_MAX=${SETTLE_ROUNDS_MAX} rounds at virtual ${this.clock.now()} (seed ${this.seed})`);
  }

  /** Settles the host, then runs the single earliest event; false when nothing is left to run. */
  async step(): Promise<boolean> {
    await this.settle();
    const delivery = this.bus.nextDue();
    const timer = this.clock.nextDue();
    if (!delivery && !timer) return false;
    if (delivery && (!timer || earlier(delivery, timer))) this.bus.runNext();
    else this.clock.fireNext();
    this.#steps++;
    return true;
  }

  /**
   * Steps until `predicate` holds (checked after the host settles), returning the steps taken.
   * Throws, with the recent events, when it still does not hold after `stepsMax` steps or when
   * nothing is left to run.
   */
  async runUntil(predicate: () => boolean, stepsMax: number): Promise<number> {
    for (let taken = 0; ; taken++) {
      await this.settle();
      if (predicate()) return taken;
      if (taken >= stepsMax) throw new Error(this.report(`runUntil: predicate still false after ${stepsMax} steps`));
      if (!(await this.step())) throw new Error(this.report(`runUntil: predicate false and nothing left to run after ${taken} steps`));
    }
  }

  /** Runs every event due within the next `durationMs` virtual ms, then moves the clock to its end. */
  async runFor(durationMs: number, stepsMax: number): Promise<void> {
    const endMs = this.clock.now() + durationMs;
    for (let taken = 0; ; taken++) {
      await this.settle();
      const due = Math.min(this.bus.nextDueMs() ?? Infinity, this.clock.nextDueMs() ?? Infinity);
      if (due > endMs) break;
      if (taken >= stepsMax) throw new Error(this.report(`runFor: more than ${stepsMax} steps in ${durationMs} ms`));
      await this.step();
    }
    this.clock.advanceTo(endMs);
  }

  /** A failure report: the seed to replay, where time stands, and the last events. */
  report(headline: string): string {
    const lines = [
      `${headline} (seed ${this.seed}, virtual ${this.clock.now()}, ${this.#steps} steps, trace ${this.trace.hash})`,
      ...this.errors.map((e) => `  error at ${e.timeMs} in ${e.where}: ${(e.err as Error)?.stack ?? String(e.err)}`),
      '  last events:',
      ...this.trace.recent().map((l) => `    ${l}`),
    ];
    return lines.join('\n');
  }

  #changes(): number {
    return this.bus.changes + this.clock.changes;
  }

  #error(where: string, err: unknown): void {
    this.errors.push({ where, err, timeMs: this.clock.now() });
    this.trace.record('error', where, this.clock.now());
  }
}
