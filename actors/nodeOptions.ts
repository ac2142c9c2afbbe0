/**
 * What a node is started with, and the checks on it that stop a start before anything opens:
 * apart from actors/node.ts so that the files it composes can name the options without
 * importing the composition root.
 */
import type { Logger } from 'pino';
import type { NatsAuth } from '../src/nats/connectOptions.ts';
import type { ClusterSettings } from '../src/config.ts';
import type { SyncMode } from '../src/storage/lmdb.ts';
import { assertValidName } from '../src/subjects.ts';
import type { Transport } from './transport.ts';
import type { Start } from './membership.ts';

export interface NodeOptions {
  readonly id: string;
  readonly natsUrl: string;
  /** Credentials and TLS for a secured NATS (src/nats/connectOptions.ts). */
  readonly natsAuth?: NatsAuth;
  readonly settings: ClusterSettings;
  /**
   * How this node finds its cluster when it has no persisted view: a static member list (the
   * same order on every node: the first ring is derived from it), a seed to ask to join through,
   * or nothing (it waits for `dkv join ID`).
   */
  readonly start: Start;
  readonly gossipIntervalMs?: number;
  readonly transferKeysPerSecond?: number;
  readonly transferPageKeys?: number;
  /** Anti-entropy: one exchange per interval (0 turns it off), repairs per second, tombstone grace. */
  readonly aeIntervalMs?: number;
  readonly aeKeysPerSecond?: number;
  readonly tombstoneGraceMs?: number;
  /** Called once this node has left the ring (after `dkv leave`); the CLI exits 0. */
  readonly onLeft?: () => void;
  readonly storage: 'lmdb' | 'memory';
  /** When an lmdb write counts as durable (see SyncMode); default 'always'. */
  readonly sync?: SyncMode;
  readonly syncIntervalMs?: number;
  readonly dataDir: string;
  /** Subscribes the test-only fault subject; never on by default. */
  readonly faultsEnabled?: boolean;
  readonly logger?: Logger;
  /** Bound of the hint backlog (hinted copies); past it this node refuses to stand in. */
  readonly hintsMax?: number;
  /** Bound of the hint backlog in estimated bytes; past it this node refuses to stand in. */
  readonly hintBytesMax?: number;
  /** Bound on client operations in progress (src/admission.ts); past it requests are `overloaded`. */
  readonly clientOpsMax?: number;
  /** Bound on peers' replica operations in progress (src/admission.ts REPLICA_OPS_IN_PROGRESS_MAX). */
  readonly replicaOpsMax?: number;
  /**
   * false (`--no-rebuild`): a node whose store is new counts its partitions as complete and
   * leaves their refill to read repair and anti-entropy, instead of pulling them (the default).
   */
  readonly rebuild?: boolean;
  /** Client operations slower than this (p90) hold background work back (src/backgroundControl.ts). */
  readonly foregroundTargetMs?: number;
  /** Serve the Prometheus metrics at http://metricsHost:metricsPort/metrics (actors/metrics.ts); no HTTP without a port. */
  readonly metricsPort?: number;
  /** Default 127.0.0.1. */
  readonly metricsHost?: string;
  /** Called when the supervisor gives up; the CLI exits the process with this code. */
  readonly onFatal?: (code: number) => void;
}

export interface NodeHandle {
  readonly id: string;
  readonly nc: Transport;
  stop(): Promise<void>;
}

/** A member list or seed that cannot work stops the start with the reason. */
export function checkStart(id: string, start: Start, settings: ClusterSettings): void {
  assertValidName('node', id);
  if (start.kind === 'members') {
    const members = start.members;
    if (!members.includes(id)) throw new RangeError(`node ${id} is not in the member list ${members.join(',')}`);
    for (const m of members) assertValidName('node', m);
    if (new Set(members).size !== members.length) throw new RangeError(`member list has duplicates: ${members.join(',')}`);
    if (members.length < settings.n) {
      throw new RangeError(`N=${settings.n} needs at least ${settings.n} members, got ${members.length}`);
    }
  } else if (start.kind === 'join') {
    assertValidName('node', start.seed);
    if (start.seed === id) throw new RangeError(`node ${id} cannot join through itself`);
  }
}
