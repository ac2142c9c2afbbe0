/**
 * What a JetStream KV target does per operation, the same whether the bucket has one replica
 * (jetstream.ts) or three (jetstreamCluster.ts): a read checks the value it finds, an update is a
 * plain put (last writer wins: JetStream KV has no siblings to manage). Each target extends it
 * with how it starts, watches and stops its servers.
 */
import type { KV } from '@nats-io/kv';
import { isValueOf, keyName, valueFor } from '../workload.ts';
import { clientErrorCode, type OpOutcome } from './target.ts';

export abstract class JetStreamKvTarget {
  /** Keys below this were written by the preload: a read that misses one is `not_found`. */
  #preloadedKeys = 0;

  constructor(
    private readonly kv: KV,
    private readonly valueBytes: number,
  ) {}

  /** JetStream KV has nothing like dkv's sanity counters. */
  takeCounters(): Record<string, number> {
    return {};
  }

  markPreloaded(count: number): void {
    this.#preloadedKeys = count;
  }

  async read(keyIndex: number): Promise<OpOutcome> {
    const key = keyName(keyIndex);
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') return keyIndex < this.#preloadedKeys ? 'not_found' : undefined;
      return isValueOf(key, entry.string(), this.valueBytes) ? undefined : 'wrong_value';
    } catch (err) {
      return clientErrorCode(err);
    }
  }

  async update(keyIndex: number, version: number): Promise<OpOutcome> {
    const key = keyName(keyIndex);
    try {
      await this.kv.put(key, valueFor(key, version, this.valueBytes));
      return undefined;
    } catch (err) {
      return clientErrorCode(err);
    }
  }
}
