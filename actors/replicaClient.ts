/** Node-to-node replica requests over NATS; every failure becomes a result, never a throw. */
import type { NatsConnection } from '@nats-io/transport-node';
import { decodeInternal, encodeInternal } from '../src/codec.ts';
import type { StoredClock } from '../src/replica.ts';
import type { ReplicaResult } from './vnode.ts';

export type ReplicaRequest =
  | { op: 'read'; p: number; k: string }
  | { op: 'replicate'; p: number; k: string; c: StoredClock };

export async function replicaRequest(nc: NatsConnection, subject: string, body: ReplicaRequest, timeoutMs: number): Promise<ReplicaResult> {
  try {
    const msg = await nc.request(subject, encodeInternal(body), { timeout: timeoutMs });
    return decodeInternal<ReplicaResult>(msg.data);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
