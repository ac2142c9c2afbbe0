import { pino, type Logger } from 'pino';

/** One pino logger per process, JSON on stdout; actors log through children bound to their path. */
export function createLogger(bindings: Record<string, unknown>, level = process.env.DKV_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}

export type { Logger };
