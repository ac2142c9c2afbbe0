/**
 * The internal wire format (node to node, under `dkv.<cluster>.internal.>`): every internal
 * message and every reply to one is decoded and checked here before an actor sees it. NATS
 * permissions keep clients off these subjects (dkv nats-config), but anything on the account can
 * publish, and a node must never crash, corrupt data or exhaust a restart budget on what it reads.
 *
 * msgpack decoding returns numbers for 64-bit integers (never a BigInt, which JSON cannot carry),
 * and the checks below accept only the plain types they name: a timestamp or any other msgpack
 * extension fails them. Every bound has its unit last.
 */
import { Packr } from 'msgpackr';
import { bytesOf, isStoredValue, type StoredClock, type StoredValue } from './replica.ts';
import { isTtlMs, TTL_MS_MAX } from './protocol.ts';
import { refusal } from './replicaResult.ts';

/** Entries of one clock on the wire; a stored clock holds a few (src/clockBounds.ts). */
export const WIRE_CLOCK_ENTRIES_MAX = 512;
/** Values (siblings) of one clock on the wire. */
export const WIRE_CLOCK_VALUES_MAX = 512;
/**
 * Largest counter accepted: far beyond any real one (a counter grows by one per write of one
 * key by one actor), and an increment of it is still a safe integer.
 */
export const WIRE_COUNTER_MAX = 2 ** 52;
/** Longest actor id on the wire, in characters (contexts allow 64). */
export const WIRE_ACTOR_CHARS_MAX = 128;
/** Items in one list of a request (keys, buckets, indexes). */
export const WIRE_LIST_ITEMS_MAX = 65_536;

export interface WireLimits {
  /** Partitions: a partition number is an integer in [0, q). */
  readonly q: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
}

/** A message that does not have the shape its subject promises. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

export function isPartition(p: unknown, limits: WireLimits): p is number {
  return typeof p === 'number' && Number.isInteger(p) && p >= 0 && p < limits.q;
}

/** A key as the public protocol accepts it: a non-empty, well-formed string of bounded UTF-8 length. */
export function isWireKey(k: unknown, limits: WireLimits): k is string {
  if (typeof k !== 'string' || k.length === 0 || k.length > limits.keyBytesMax) return false;
  if (k.isWellFormed && !k.isWellFormed()) return false;
  // At most 3 UTF-8 bytes a UTF-16 unit: short keys need no count.
  return k.length * 3 <= limits.keyBytesMax || Buffer.byteLength(k, 'utf8') <= limits.keyBytesMax;
}

export function isActorId(id: unknown): id is string {
  return typeof id === 'string' && id.length >= 1 && id.length <= WIRE_ACTOR_CHARS_MAX;
}

function isWireValue(v: unknown, limits: WireLimits): v is StoredValue {
  return isStoredValue(v) && (bytesOf(v)?.length ?? 0) <= limits.valueBytesMax;
}

/**
 * A version set as replicas store it (src/dvvset.ts invariants), within the bounds above:
 * sorted unique ids, counters positive and at most WIRE_COUNTER_MAX, values no more than the
 * counter and no more than the bound in all, times finite and non-negative.
 */
export function isWireClock(x: unknown, limits: WireLimits): x is StoredClock {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false;
  const { e, a } = x as { e?: unknown; a?: unknown };
  if (!Array.isArray(e) || !Array.isArray(a) || e.length > WIRE_CLOCK_ENTRIES_MAX) return false;
  let valuesTotal = a.length;
  if (valuesTotal > WIRE_CLOCK_VALUES_MAX || !a.every((v) => isWireValue(v, limits))) return false;
  let prev: string | undefined;
  for (const entry of e as unknown[]) {
    if (!Array.isArray(entry) || entry.length !== 4) return false;
    const [id, n, vs, t] = entry as unknown[];
    if (!isActorId(id) || (prev !== undefined && !(prev < id))) return false;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > WIRE_COUNTER_MAX) return false;
    if (!Array.isArray(vs) || vs.length > n) return false;
    valuesTotal += vs.length;
    if (valuesTotal > WIRE_CLOCK_VALUES_MAX || !vs.every((v) => isWireValue(v, limits))) return false;
    if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) return false;
    prev = id;
  }
  return true;
}

/** A digest as src/replica.ts readDigest makes it: two unsigned 32-bit integers. */
export function isWireDigest(d: unknown): d is readonly [number, number] {
  return Array.isArray(d) && d.length === 2 && d.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 0xffffffff);
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

export function isNodeName(x: unknown): x is string {
  return typeof x === 'string' && /^[A-Za-z0-9_-]{1,64}$/.test(x);
}

export function isWireList<T>(x: unknown, item: (v: unknown) => v is T, itemsMax = WIRE_LIST_ITEMS_MAX): x is T[] {
  return Array.isArray(x) && x.length <= itemsMax && x.every(item);
}

export function isNonNegativeInt(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
}

/**
 * A value made of JSON's types only (objects, arrays, strings, finite numbers, booleans, null;
 * undefined is dropped as JSON.stringify drops it),
 * within a depth and size: what may be copied into a JSON reply (a peer's status figures).
 * Returns a fresh copy; throws WireError otherwise.
 */
export function plainJson(x: unknown, depthMax = 8, itemsMax = 10_000): unknown {
  let items = 0;
  const copy = (v: unknown, depth: number): unknown => {
    if (++items > itemsMax) throw new WireError(`more than ${itemsMax} items`);
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (typeof v === 'number') {
      if (!Number.isFinite(v)) throw new WireError('a number that is not finite');
      return v;
    }
    if (depth >= depthMax) throw new WireError(`nested deeper than ${depthMax}`);
    // undefined as JSON has it: null in an array, absent from an object.
    if (Array.isArray(v)) return v.map((i) => (i === undefined ? null : copy(i, depth + 1)));
    if (isPlainObject(v)) {
      const out: Record<string, unknown> = {};
      for (const [k, i] of Object.entries(v)) if (i !== undefined) out[k] = copy(i, depth + 1);
      return out;
    }
    throw new WireError(`a ${typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v} where JSON types are expected`);
  };
  return copy(x, 0);
}

// ---------------------------------------------------------------------------------------------
// Messages

// Records (structure sharing) stay off: each message must decode on its own, by any node, in
// any order. 64-bit integers decode as numbers (unsafe ones then fail the checks), never BigInt.
const packr = new Packr({ useRecords: false, moreTypes: false, int64AsType: 'number' });

export function encodeInternal(message: unknown): Uint8Array {
  return packr.pack(message);
}

/** Decodes a message; anything msgpack cannot read is a WireError. */
export function decodeInternal(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    throw new WireError(`undecodable message: ${(err as Error).message}`);
  }
}

export type ReplicaOp =
  /**
   * `d`: the asker's digest of its own copy (src/replica.ts readDigest): answer `same` if equal.
   * `own`: this replica's copy as it is, never read through to another (a read-through's own question).
   */
  | { op: 'read'; p: number; k: string; d?: readonly [number, number]; own?: true }
  /**
   * `h`: the unreachable owners the receiver keeps this copy for (hinted handoff).
   * `dur`: fsync this copy before acknowledging it (sync mode `one`, see src/storage/lmdb.ts).
   */
  | { op: 'replicate'; p: number; k: string; c: StoredClock; h?: string[]; dur?: true }
  /** Delete the tombstone `c` if it is still exactly that (anti-entropy's reaper). */
  | { op: 'reap'; p: number; k: string; c: StoredClock };

/** Owners a replica write may name for hints: a preference list is never longer. */
export const WIRE_HINT_OWNERS_MAX = 16;

/** One operation of a replica batch, or why it is malformed (the sender gets that as its result). */
export function parseReplicaOp(x: unknown, limits: WireLimits): ReplicaOp | string {
  if (!isPlainObject(x)) return 'malformed replica operation: not an object';
  const { op, p, k } = x;
  if (!isPartition(p, limits)) return `malformed replica operation: partition must be an integer in [0, ${limits.q})`;
  if (!isWireKey(k, limits)) return `malformed replica operation: key must be a non-empty string of at most ${limits.keyBytesMax} UTF-8 bytes`;
  // Checked field by field, then passed on as decoded: a copy per operation showed as garbage
  // on the read path; fields no check names are never read.
  if (op === 'read') {
    if (x.d !== undefined && !isWireDigest(x.d)) return 'malformed replica operation: digest must be two 32-bit unsigned integers';
    if (x.own !== undefined && x.own !== true) return 'malformed replica operation: "own" is true or absent';
    return x as ReplicaOp;
  }
  if (op !== 'replicate' && op !== 'reap') return 'malformed replica operation: op must be "read", "replicate" or "reap"';
  if (!isWireClock(x.c, limits)) return 'malformed replica operation: not a version set within the wire bounds';
  if (op === 'replicate' && x.h !== undefined && !isWireList(x.h, isNodeName, WIRE_HINT_OWNERS_MAX)) return 'malformed replica operation: hint owners must be node names';
  if (op === 'replicate' && x.dur !== undefined && x.dur !== true) return 'malformed replica operation: "dur" is true or absent';
  return x as ReplicaOp;
}

export interface ReplicaBatchHead {
  /** Unchecked operations: each goes through parseReplicaOp on its own. */
  readonly ops: unknown[];
  readonly from?: string;
  readonly rv?: number;
}

export function parseReplicaBatch(bytes: Uint8Array, opsMax: number): ReplicaBatchHead {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x) || !Array.isArray(x.ops)) throw new WireError('a replica batch is {ops: [...]}');
  if (x.ops.length > opsMax) throw new WireError(`a replica batch holds at most ${opsMax} operations`);
  return { ops: x.ops, ...(isNodeName(x.from) ? { from: x.from } : {}), ...(isNonNegativeInt(x.rv) ? { rv: x.rv } : {}) };
}

/** A replica's answer to one operation (actors/vnode.ts ReplicaResult). */
export type WireReplicaResult = { ok: true; clock: StoredClock | null; same?: true } | { ok: false; error: string };

/** Longest error text kept from a peer's answer. */
const WIRE_ERROR_CHARS_MAX = 1000;

export function parseReplicaResult(x: unknown, limits: WireLimits): WireReplicaResult {
  if (!isPlainObject(x)) return { ok: false, error: 'malformed replica result' };
  if (x.ok === true) {
    if (x.clock !== null && !isWireClock(x.clock, limits)) return { ok: false, error: 'malformed replica result: not a version set within the wire bounds' };
    if (x.same !== undefined && (x.same !== true || x.clock !== null)) return { ok: false, error: 'malformed replica result: "same" is true, with no version set' };
    return x as WireReplicaResult;
  }
  return { ok: false, error: typeof x.error === 'string' ? x.error.slice(0, WIRE_ERROR_CHARS_MAX) : 'malformed replica result' };
}

/** The answer to a replica batch: one result per operation sent, in order. */
export function parseReplicaResults(bytes: Uint8Array, count: number, limits: WireLimits): WireReplicaResult[] {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x) || !Array.isArray(x.results)) throw new WireError('a replica batch reply is {results: [...]}');
  const results = x.results as unknown[];
  const missing = typeof x.error === 'string' ? x.error.slice(0, WIRE_ERROR_CHARS_MAX) : 'batch reply is missing a result';
  // In place: the decoded array is this reply's own.
  for (let i = 0; i < count; i++) results[i] = i < results.length ? parseReplicaResult(results[i], limits) : { ok: false, error: missing };
  results.length = count;
  return results as WireReplicaResult[];
}

/** A forwarded write's request, as actors/coordinator.ts sends it (src/protocol.ts WriteRequest). */
export interface WireWrite {
  readonly key: string;
  readonly value: Uint8Array | null;
  readonly context?: ReadonlyArray<readonly [string, number]>;
  readonly w?: number;
  readonly encoding: 'utf8' | 'base64';
  readonly ttlMs?: number;
}

export interface WireForwardedWrite {
  readonly op: 'coordinate';
  readonly kind: 'put' | 'delete';
  readonly req: WireWrite;
  readonly clientDeadlineMs?: number;
}

export function parseForwardedWrite(bytes: Uint8Array, limits: WireLimits & { readonly n: number }): WireForwardedWrite {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x) || x.op !== 'coordinate' || (x.kind !== 'put' && x.kind !== 'delete') || !isPlainObject(x.req)) throw new WireError('a forwarded write is {op: "coordinate", kind: "put" | "delete", req}');
  const { key, value, context, w, encoding, ttlMs } = x.req;
  if (!isWireKey(key, limits)) throw new WireError('forwarded write: key must be a non-empty string within the key bound');
  if (x.kind === 'delete' ? value !== null : !(value instanceof Uint8Array) || value.length > limits.valueBytesMax) throw new WireError('forwarded write: value must be bytes within the value bound (null for a delete)');
  if (context !== undefined && !isWireVersionVector(context)) throw new WireError('forwarded write: context must be a version vector');
  if (w !== undefined && (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > limits.n)) throw new WireError(`forwarded write: w must be an integer in 1..${limits.n}`);
  if (encoding !== 'utf8' && encoding !== 'base64') throw new WireError('forwarded write: encoding must be "utf8" or "base64"');
  if (ttlMs !== undefined && (x.kind !== 'put' || !isTtlMs(ttlMs))) throw new WireError(`forwarded write: ttlMs must be an integer in 1..${TTL_MS_MAX} on a put`);
  if (x.clientDeadlineMs !== undefined && !isNonNegativeInt(x.clientDeadlineMs)) throw new WireError('forwarded write: clientDeadlineMs must be a time in ms');
  const req: WireWrite = { key, value: value as Uint8Array | null, encoding, ...(context !== undefined ? { context } : {}), ...(w !== undefined ? { w } : {}), ...(ttlMs !== undefined ? { ttlMs } : {}) };
  return { op: 'coordinate', kind: x.kind, req, ...(x.clientDeadlineMs !== undefined ? { clientDeadlineMs: x.clientDeadlineMs } : {}) };
}

function isWireVersionVector(x: unknown): x is ReadonlyArray<readonly [string, number]> {
  if (!Array.isArray(x) || x.length > WIRE_CLOCK_ENTRIES_MAX) return false;
  let prev: string | undefined;
  for (const e of x as unknown[]) {
    if (!Array.isArray(e) || e.length !== 2) return false;
    const [id, n] = e as unknown[];
    if (!isActorId(id) || (prev !== undefined && !(prev < id))) return false;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > WIRE_COUNTER_MAX) return false;
    prev = id;
  }
  return true;
}

/** An array of [key, version set] pairs (a transfer page); null clocks where `nullable`. */
export function isWireEntries(x: unknown, limits: WireLimits, nullable: boolean): x is Array<[string, StoredClock | null]> {
  return (
    Array.isArray(x) &&
    x.length <= WIRE_LIST_ITEMS_MAX &&
    x.every((e) => Array.isArray(e) && e.length === 2 && isWireKey(e[0], limits) && ((nullable && e[1] === null) || isWireClock(e[1], limits)))
  );
}

/** `rv`: the requester's ring version; a source with an older ring waits until it has caught up. */
export type TransferRequest = { type: 'page'; p: number; after?: string; limit: number; rv: number } | { type: 'state'; p: number };
/** `rebuilding`: the source's own store is new and it is still pulling the partition (src/partitionTable.ts). */
export type TransferReply = { entries: Array<[string, StoredClock]>; done: boolean } | { state: 'receiving' | 'complete' | 'giving' | 'none' | 'rebuilding' } | { error: string };

export function parseTransferRequest(bytes: Uint8Array, limits: WireLimits): TransferRequest {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x) || !isPartition(x.p, limits)) throw new WireError(`a transfer request names a partition in [0, ${limits.q})`);
  if (x.type === 'state') return { type: 'state', p: x.p };
  if (x.type !== 'page') throw new WireError('a transfer request is of type "page" or "state"');
  if (typeof x.limit !== 'number' || !Number.isInteger(x.limit) || x.limit < 1 || x.limit > WIRE_LIST_ITEMS_MAX) throw new WireError(`a page asks for 1..${WIRE_LIST_ITEMS_MAX} keys`);
  if (x.after !== undefined && !isWireKey(x.after, limits)) throw new WireError('a page cursor is a key');
  if (!isNonNegativeInt(x.rv)) throw new WireError('a page names its ring version');
  return { type: 'page', p: x.p, limit: x.limit, rv: x.rv, ...(x.after !== undefined ? { after: x.after } : {}) };
}

export function parseTransferReply(bytes: Uint8Array, limits: WireLimits): TransferReply {
  const x = decodeInternal(bytes);
  if (isPlainObject(x)) {
    if (typeof x.error === 'string') return { error: x.error.slice(0, WIRE_ERROR_CHARS_MAX) };
    if (x.state === 'receiving' || x.state === 'complete' || x.state === 'giving' || x.state === 'none' || x.state === 'rebuilding') return { state: x.state };
    if (typeof x.done === 'boolean' && isWireEntries(x.entries, limits, false)) return { entries: x.entries as Array<[string, StoredClock]>, done: x.done };
  }
  throw new WireError('a transfer reply is {entries, done}, {state} or {error}');
}

export type AeRequest = { type: 'hashes'; p: number; level: number; idx: number[] } | { type: 'keys'; p: number; buckets: number[] } | { type: 'clocks'; p: number; keys: string[] };
export type AeReply = { hashes: Array<readonly [number, number]> } | { keys: Array<[string, number, number]> } | { clocks: Array<[string, StoredClock | null]> } | { error: string };

const isIndex = (x: unknown): x is number => isNonNegativeInt(x) && x < 2 ** 31;

export function parseAeRequest(bytes: Uint8Array, limits: WireLimits): AeRequest {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x) || !isPartition(x.p, limits)) throw new WireError(`an anti-entropy request names a partition in [0, ${limits.q})`);
  if (x.type === 'hashes' && isIndex(x.level) && isWireList(x.idx, isIndex)) return { type: 'hashes', p: x.p, level: x.level, idx: x.idx };
  if (x.type === 'keys' && isWireList(x.buckets, isIndex)) return { type: 'keys', p: x.p, buckets: x.buckets };
  if (x.type === 'clocks' && isWireList(x.keys, (k): k is string => isWireKey(k, limits))) return { type: 'clocks', p: x.p, keys: x.keys };
  throw new WireError('an anti-entropy request is {type: "hashes", level, idx}, {type: "keys", buckets} or {type: "clocks", keys}');
}

export function parseAeReply(bytes: Uint8Array, limits: WireLimits): AeReply {
  const x = decodeInternal(bytes);
  if (isPlainObject(x)) {
    if (typeof x.error === 'string') return { error: x.error.slice(0, WIRE_ERROR_CHARS_MAX) };
    if (isWireList(x.hashes, isWireDigest)) return { hashes: x.hashes };
    const isKeyHash = (e: unknown): e is [string, number, number] => Array.isArray(e) && e.length === 3 && isWireKey(e[0], limits) && isWireDigest([e[1], e[2]]);
    if (Array.isArray(x.keys) && x.keys.length <= WIRE_LIST_ITEMS_MAX && x.keys.every(isKeyHash)) return { keys: x.keys };
    if (isWireEntries(x.clocks, limits, true)) return { clocks: x.clocks };
  }
  throw new WireError('an anti-entropy reply is {hashes}, {keys}, {clocks} or {error}');
}

/** A peer's status figures: plain JSON only, naming the node it claims to be. */
export function parseStats(bytes: Uint8Array): Record<string, unknown> {
  const x = plainJson(decodeInternal(bytes));
  if (!isPlainObject(x) || !isNodeName(x.node)) throw new WireError('status figures are an object naming their node');
  return x;
}

// ---------------------------------------------------------------------------------------------
// Sizes

/**
 * An upper estimate of a version set's encoded size, in bytes: msgpack spends at most a few
 * bytes on each array, number and string header, and ids are at most 3 bytes a character.
 */
export function clockBytes(c: StoredClock): number {
  let n = 16;
  for (const [id, , vs] of c.e) {
    n += 32 + id.length * 3;
    for (const v of vs) n += valueBytes(v);
  }
  for (const v of c.a) n += valueBytes(v);
  return n;
}

function valueBytes(v: StoredValue): number {
  const bytes = bytesOf(v);
  // An expiring value is a map of two fields: its headers and a 64-bit time.
  return 8 + (bytes === null ? 0 : bytes.length) + (bytes === v ? 0 : 16);
}

/** Why `next` cannot be written (a `too_large:` error), or undefined when it can. */
export function tooLargeToReplicate(next: StoredClock, bytesMax: number | undefined): string | undefined {
  if (bytesMax === undefined) return undefined;
  const bytes = clockBytes(next);
  if (bytes <= bytesMax) return undefined;
  return refusal('too_large', `the key's version set would be about ${bytes} bytes with this write, more than the ${bytesMax} a message between replicas can carry; read it and write back with its context to resolve its siblings`);
}

/** An upper estimate of one replica operation's encoded size, in bytes. */
/** Estimated bytes of a key and its version set on the wire (a transfer page's entry). */
export function entryBytes(key: string, clock: StoredClock): number {
  return key.length * 3 + clockBytes(clock);
}

export function replicaOpBytes(op: ReplicaOp): number {
  const entry = op.op === 'read' ? op.k.length * 3 + 32 : entryBytes(op.k, op.c);
  return 64 + entry + (op.op === 'replicate' && op.h ? op.h.length * 70 : 0);
}

/** What a message's envelope (subject, reply, batch fields) may take beside its operations, in bytes. */
export const MESSAGE_OVERHEAD_BYTES = 16 * 1024;
