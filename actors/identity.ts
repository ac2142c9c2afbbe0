/**
 * The actor ids a node versions with, kept beside its stores so that no (actor, counter) is
 * ever issued twice for two values (Riak's kv679: equal dots with different values make a merge
 * drop one of them).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONTEXT_ID_CHARS_MAX, isContextId } from '../src/context.ts';
import { standInActorId } from '../src/clockBounds.ts';
import { writeJsonAtomic } from '../src/storage/jsonFile.ts';

/** dkv's file beside a store: the identity it versions with. */
export const IDENTITY_FILE = 'identity.json';

function readJson(file: string): Record<string, unknown> | undefined {
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    return typeof saved === 'object' && saved !== null ? (saved as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The identity this node's vnodes version with: the node ID plus a suffix drawn when its store
 * was created. A node that lost its data comes back with a new suffix, so the counters it starts
 * again from 1 never name the same dots as versions it issued before the loss. A memory store is
 * new at every start, and so is its identity.
 */
/** Random hex digits, `bytes` bytes' worth: the system's randomness, or a seeded source in the simulation. */
export type RandomHex = (bytes: number) => string;
const cryptoHex: RandomHex = (bytes) => randomBytes(bytes).toString('hex');

export function storeIdentity(storeDir: string | undefined, id: string, randomHex: RandomHex = cryptoHex): string {
  const fresh = () => `${id.slice(0, CONTEXT_ID_CHARS_MAX - 8)}.${randomHex(5).slice(0, 7)}`;
  if (storeDir === undefined) return fresh();
  const file = join(storeDir, IDENTITY_FILE);
  const saved = readJson(file);
  if (typeof saved?.actorId === 'string' && isContextId(saved.actorId)) return saved.actorId;
  const actorId = fresh();
  writeJsonAtomic(file, { actorId, createdAt: new Date().toISOString() });
  return actorId;
}

/**
 * The actor id this node writes with when it stands in for unreachable owners: its hint store's
 * identity and an epoch, `<node>~<suffix>/<epoch>` (src/clockBounds.ts).
 *
 * Why epochs and not one id per write: an id per write adds an entry to the key's clock at every
 * stand-in write, without bound. Why not the node's own id: a stand-in keeps no copy of the key
 * once its hints are handed off, so it cannot know the counter it reached. Within an epoch the
 * stand-in keeps, per key it wrote, its own entry with its values (actors/handoff.ts), so the
 * next write continues that counter; the epoch moves on (a persisted lease, Riak's counter
 * lease) whenever those records may be gone: at every start, since a crash may have lost the
 * latest of them, and when their bound is reached and they are cleared.
 */
export class StandInEpochs {
  #epoch: number;
  readonly identity: string;

  constructor(
    private readonly file: string | undefined,
    nodeId: string,
    randomHex: RandomHex = cryptoHex,
  ) {
    const saved = file === undefined ? undefined : readJson(file);
    const identity = saved?.identity;
    const epoch = saved?.epoch;
    if (typeof identity === 'string' && isContextId(identity) && typeof epoch === 'number' && Number.isSafeInteger(epoch) && epoch >= 1) {
      this.identity = identity;
      this.#epoch = epoch;
    } else {
      this.identity = `${nodeId.slice(0, 48)}~${randomHex(3)}`;
      this.#epoch = 0;
    }
    this.next();
  }

  get epoch(): number {
    return this.#epoch;
  }

  get actorId(): string {
    return standInActorId(this.identity, this.#epoch);
  }

  /** Moves to a new epoch, on disk before it is used. */
  next(): string {
    this.#epoch += 1;
    if (this.file !== undefined) writeJsonAtomic(this.file, { identity: this.identity, epoch: this.#epoch, updatedAt: new Date().toISOString() });
    return this.actorId;
  }
}
