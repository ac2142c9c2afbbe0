/**
 * The test fault switch: `dkv.<cluster>.internal.<ID>.fault` arms crashes and refusals that the
 * tests need (a vnode or coordinator crash, a refused replica read, a reply that cannot be
 * encoded, failing fsyncs). Subscribed only with `--faults`, never by default.
 */
import type { TransportMsg as Msg, TransportSubscription as Subscription } from './transport.ts';
import type { Logger } from 'pino';
import { DkvError, errorReply } from '../src/errors.ts';
import type { LmdbStorage } from '../src/storage/lmdb.ts';
import { jsonResponder } from './gateway.ts';
import type { Faults } from './vnode.ts';

export function subscribeTestFaults(deps: {
  subscribe: (subject: string, opts: { callback: (err: Error | null, msg: Msg) => void }) => Subscription;
  subject: string;
  faults: Faults;
  /** The replica store when it fsyncs periodically: its fsyncs can be made to fail. */
  periodicStore: LmdbStorage<unknown> | undefined;
  log: Logger;
}): Subscription {
  const { faults, periodicStore, log } = deps;
  return deps.subscribe(deps.subject, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const body = JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
        const count = (name: keyof Faults | 'syncFailures'): number | undefined => {
          const v = body?.[name];
          if (v === undefined) return undefined;
          if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new DkvError('bad_request', `"${name}" must be a non-negative integer`);
          return v;
        };
        const vnodeCrashes = count('vnodeCrashes');
        const coordinatorCrashes = count('coordinatorCrashes');
        const syncFailures = count('syncFailures');
        const replicaReadRefusals = count('replicaReadRefusals');
        const replyEncodingFailures = count('replyEncodingFailures');
        if (vnodeCrashes === undefined && coordinatorCrashes === undefined && syncFailures === undefined && replicaReadRefusals === undefined && replyEncodingFailures === undefined) {
          throw new DkvError('bad_request', 'say "vnodeCrashes", "coordinatorCrashes", "replicaReadRefusals", "replyEncodingFailures" or "syncFailures"');
        }
        if (syncFailures !== undefined && !periodicStore) throw new DkvError('bad_request', '"syncFailures" needs lmdb storage with --sync periodic or one');
        if (vnodeCrashes !== undefined) faults.vnodeCrashes = vnodeCrashes;
        if (coordinatorCrashes !== undefined) faults.coordinatorCrashes = coordinatorCrashes;
        if (replicaReadRefusals !== undefined) faults.replicaReadRefusals = replicaReadRefusals;
        if (replyEncodingFailures !== undefined) faults.replyEncodingFailures = replyEncodingFailures;
        if (syncFailures !== undefined && periodicStore) periodicStore.failSyncs = syncFailures;
        log.warn({ event: 'fault-armed', ...faults, ...(periodicStore ? { syncFailures: periodicStore.failSyncs } : {}) }, 'test fault switch armed');
        jsonResponder(msg)({ ok: true });
      } catch (e) {
        jsonResponder(msg)(errorReply(e instanceof SyntaxError ? new DkvError('bad_request', e.message) : e));
      }
    },
  });
}
