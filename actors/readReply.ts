/**
 * The body of a read's answer (get, peek), built by the code that answers, never inside a vnode's
 * turn: a failure to encode it (a context, a value) answers `internal` for that request alone and
 * is logged, and counts toward no actor's restart budget.
 */
import type { Logger } from 'pino';
import { DkvError, errorReply } from '../src/errors.ts';
import type { Faults } from './vnode.ts';

export function readReplyBody(deps: { readonly faults: Faults; readonly log: Logger }, request: 'get' | 'peek', build: () => object): object {
  try {
    if (deps.faults.replyEncodingFailures > 0) {
      deps.faults.replyEncodingFailures -= 1;
      throw new Error('injected reply encoding failure (test fault switch)');
    }
    return build();
  } catch (err) {
    const message = (err as Error)?.message ?? String(err);
    deps.log.error({ event: 'reply-encoding-failed', request, err: message }, `could not encode a ${request} reply: answered internal`);
    return errorReply(new DkvError('internal', `could not encode the ${request} reply: ${message}`));
  }
}
