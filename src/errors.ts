/** The error codes of the public protocol (DESIGN.md §3); nothing else goes on the wire. */
export type ErrorCode = 'bad_request' | 'too_large' | 'unavailable' | 'timeout' | 'overloaded' | 'conflict' | 'internal';

export const ERROR_CODES: readonly ErrorCode[] = ['bad_request', 'too_large', 'unavailable', 'timeout', 'overloaded', 'conflict', 'internal'];

export class DkvError extends Error {
  override readonly name = 'DkvError';
  constructor(readonly code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface ErrorReply {
  error: { code: ErrorCode; message: string };
}

export function errorReply(err: unknown): ErrorReply {
  if (err instanceof DkvError) return { error: { code: err.code, message: err.message } };
  const message = err instanceof Error ? err.message : String(err);
  return { error: { code: 'internal', message } };
}

export function isErrorCode(x: unknown): x is ErrorCode {
  return typeof x === 'string' && (ERROR_CODES as readonly string[]).includes(x);
}

/**
 * Whether a failed NATS request failed because nobody serves its subject ("no responders"):
 * nats.js reports it as a RequestError whose cause names it. The fast signal that a node is gone.
 */
export function isNoResponders(err: unknown): boolean {
  const text = `${(err as Error)?.message ?? ''} ${String((err as { cause?: Error })?.cause?.message ?? '')}`;
  return /no responders/i.test(text);
}
