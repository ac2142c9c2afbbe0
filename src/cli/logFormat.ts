/**
 * A node's pino JSON log line as one line a person reads: time, node, level, what happened, and,
 * for a supervision decision, the actor path, the decision and the reason. Used by `dkv logs` and
 * `dkv dev --follow-logs`; `--json` keeps the raw lines instead.
 */

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

export interface LogLine {
  readonly time?: number;
  readonly level?: number;
  readonly node?: string;
  readonly event?: string;
  readonly msg?: string;
  readonly [field: string]: unknown;
}

/** A line of a log file as JSON, or undefined when it is not a pino line (a stack trace, a stray print). */
export function parseLogLine(text: string): LogLine | undefined {
  if (!text.startsWith('{')) return undefined;
  try {
    const x = JSON.parse(text) as unknown;
    return x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as LogLine) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether a line is one of `events`: an event name as the log lines carry it (`peer-status`,
 * `transfer-complete`, ...), or `supervision` for every supervision decision. No filter: all.
 */
export function matchesEvents(line: LogLine, events: readonly string[] | undefined): boolean {
  if (events === undefined || events.length === 0) return true;
  return events.includes(String(line.event ?? '')) || (events.includes('supervision') && line.decision !== undefined);
}

function clock(timeMs: number | undefined): string {
  if (timeMs === undefined || !Number.isFinite(timeMs)) return '--:--:--.---';
  return new Date(timeMs).toISOString().slice(11, 23);
}

function reasonOf(line: LogLine): string {
  const err = line.err as { message?: unknown } | undefined;
  return typeof err?.message === 'string' ? err.message : typeof line.reason === 'string' ? line.reason : '';
}

export function formatLogLine(line: LogLine): string {
  const level = (LEVELS[line.level ?? 30] ?? String(line.level)).padEnd(5);
  const head = `${clock(line.time)} ${String(line.node ?? '?').padEnd(4)} ${level}`;
  if (line.decision !== undefined) {
    const window = typeof line.crashesInWindow === 'number' ? ` (crash ${line.crashesInWindow} of ${String(line.restartsMax)} in ${Number(line.windowMs) / 1000} s)` : '';
    const escalated = typeof line.escalatedTo === 'string' ? ` to ${line.escalatedTo}` : '';
    return `${head} ${String(line.actor ?? '?')} ${String(line.decision)}${escalated}: ${reasonOf(line) || 'no reason given'}${window}`;
  }
  const event = line.event !== undefined ? `${String(line.event)}: ` : '';
  return `${head} ${event}${String(line.msg ?? '')}`;
}
