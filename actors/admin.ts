/**
 * `dkv join ID` and `dkv leave ID` on the node that takes the request: checked here
 * (src/adminRules.ts; a joiner must answer a ping first), staged by the membership actor,
 * committed by the claimant.
 */
import type { TransportMsg as Msg } from './transport.ts';
import { badNodeName, leaveRefusal } from '../src/adminRules.ts';
import { DkvError } from '../src/errors.ts';
import type { Change, View } from '../src/membership.ts';

export function adminHandler(deps: {
  readonly n: number;
  /** Resolves when `node` answers on its ping subject; rejects when it does not. */
  ping(node: string): Promise<Msg>;
  readonly membership: { view(): View | undefined; change(c: Change): Promise<unknown> };
}): (kind: 'join' | 'leave', node: string) => Promise<object> {
  return async (kind, node) => {
    const bad = badNodeName(node);
    if (bad !== undefined) throw new DkvError('bad_request', bad);
    if (kind === 'join') {
      try {
        await deps.ping(node);
      } catch (err) {
        throw new DkvError('bad_request', `node ${node} does not answer (${(err as Error).message}): start it first with dkv node --id ${node} (no --members)`);
      }
    } else {
      const refusal = leaveRefusal(deps.membership.view(), node, deps.n);
      if (refusal !== undefined) throw new DkvError('bad_request', refusal);
    }
    await deps.membership.change({ kind, node } as Change);
    return { ok: true };
  };
}
