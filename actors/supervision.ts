/**
 * Supervision policies, declared once and shared by the actor kinds. Every decision is a pino
 * line with the actor path, the error and the decision, so an operator can follow how a node
 * healed itself. nact's own default policy (stop, with a console line) is never used.
 */
import type { Logger } from 'pino';
import { recordCrash, restartBudget, type RestartBudget } from '../src/restartBudget.ts';

export type Decision = 'resume' | 'reset' | 'stop' | 'escalate';

// nact's supervision context: the decision symbols plus the actor's path.
interface SupervisionCtx {
  path: { toString(): string };
  resume: symbol;
  reset: symbol;
  stop: symbol;
  escalate: symbol;
}

export type CrashHandler<M> = (msg: M | undefined, err: unknown, ctx: any, child?: any) => symbol;

function errFields(err: unknown): Record<string, unknown> {
  if (err instanceof Error) return { message: err.message, stack: err.stack, name: err.name };
  return { message: String(err) };
}

/** Told of every decision logged through a node's logger (its metrics, its recent decisions). */
export type DecisionListener = (path: string, decision: Decision | 'exit', reason: string) => void;

/**
 * Listeners by the logger their node logs decisions with: every decision goes through
 * logDecision with the node's logger, so this reaches them all without another argument at each
 * call site. A pino child logger inherits from its parent (its prototype), so is looked up through.
 */
const listeners = new WeakMap<object, DecisionListener[]>();

/** Tells `listener` of every decision logged with `log` (or a child of it); returns the undo. */
export function onDecisions(log: Logger, listener: DecisionListener): () => void {
  const list = listeners.get(log) ?? [];
  listeners.set(log, [...list, listener]);
  return () => {
    const now = listeners.get(log);
    if (now) listeners.set(log, now.filter((l) => l !== listener));
  };
}

function notify(log: Logger, path: string, decision: Decision | 'exit', reason: string): void {
  for (let l: object | null = log; l !== null && l !== Object.prototype; l = Object.getPrototypeOf(l)) {
    const found = listeners.get(l);
    if (found && found.length > 0) {
      for (const listener of found) listener(path, decision, reason);
      return;
    }
  }
}

/** How many of a node's latest decisions its status figures carry (`decisions`). */
export const RECENT_DECISIONS_MAX = 20;
/** A decision's reason is cut to this many characters in the figures (the log line has it all). */
const DECISION_REASON_CHARS_MAX = 200;

export interface RecentDecision {
  /** ISO time of the decision. */
  readonly at: string;
  readonly actor: string;
  readonly decision: Decision | 'exit';
  /** The error's message, as logged. */
  readonly reason: string;
}

/** A node's latest supervision decisions, newest last, at most RECENT_DECISIONS_MAX. */
export class RecentDecisions {
  readonly #list: RecentDecision[] = [];
  constructor(private readonly nowMs: () => number) {}

  note(actor: string, decision: Decision | 'exit', reason: string): void {
    this.#list.push({ at: new Date(this.nowMs()).toISOString(), actor, decision, reason: reason.slice(0, DECISION_REASON_CHARS_MAX) });
    if (this.#list.length > RECENT_DECISIONS_MAX) this.#list.splice(0, this.#list.length - RECENT_DECISIONS_MAX);
  }

  list(): RecentDecision[] {
    return [...this.#list];
  }
}

/** Keeps the latest decisions logged through `log` (one node's logger) in `recent`; returns the undo. */
export function keepDecisions(log: Logger, recent: RecentDecisions): () => void {
  return onDecisions(log, (path, decision, reason) => recent.note(path, decision, reason));
}

export function logDecision(log: Logger, path: string, err: unknown, decision: Decision | 'exit', extra: Record<string, unknown> = {}): void {
  notify(log, path, decision, String(errFields(err).message));
  const level = decision === 'resume' || decision === 'reset' ? 'warn' : 'error';
  log[level]({ event: 'supervision', actor: path, err: errFields(err), decision, ...extra }, `supervision: ${path} crashed, decision ${decision}`);
}

/**
 * Restart (reset to the initial state) until the restart intensity is exceeded, then escalate
 * to the parent. `onMessageLost` lets the policy answer the request whose message crashed the
 * actor, so that no client waits for a reply that will never come.
 */
export function restartWithIntensity<M>(
  log: Logger,
  opts: { restartsMax?: number; windowMs?: number; onMessageLost?: (msg: M, err: unknown) => void; now?: () => number },
): CrashHandler<M> {
  // Lives outside the actor's state because a reset re-creates that state.
  let budget: RestartBudget = restartBudget(opts.restartsMax, opts.windowMs);
  const now = opts.now ?? Date.now;
  return (msg, err, ctx: SupervisionCtx) => {
    if (msg !== undefined && opts.onMessageLost) {
      try {
        opts.onMessageLost(msg, err);
      } catch (replyErr) {
        log.error({ actor: ctx.path.toString(), err: errFields(replyErr) }, 'could not answer the request lost in a crash');
      }
    }
    const result = recordCrash(budget, now());
    budget = result.budget;
    const decision: Decision = result.exhausted ? 'escalate' : 'reset';
    logDecision(log, ctx.path.toString(), err, decision, { crashesInWindow: budget.crashTimesMs.length, restartsMax: budget.restartsMax, windowMs: budget.windowMs });
    return decision === 'escalate' ? ctx.escalate : ctx.reset;
  };
}
