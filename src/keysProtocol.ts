/**
 * Key listing on the wire: the public request (`dkv.<cluster>.keys`, JSON, from any client) and
 * the node-to-node one (`dkv.<cluster>.internal.<ID>.keys`, msgpack), with the checks each
 * needs before anything reads storage. Both are untrusted; a reply from a peer is too, so it
 * is checked against the request it answers (src/keyListing.ts's page invariant).
 */
import { DkvError } from './errors.ts';
import { compareCodePoints, hasPrefix, KEYS_LIMIT_DEFAULT, KEYS_LIMIT_MAX, type KeysPage } from './keyListing.ts';
import { parseBody, type Limits } from './protocol.ts';
import { decodeInternal, isPartition, isPlainObject, isWireKey, WireError, type WireLimits } from './wire.ts';

export interface KeysRequest {
  /** '' lists every key. */
  readonly prefix: string;
  readonly after?: string;
  readonly limit: number;
}

function bad(message: string): DkvError {
  return new DkvError('bad_request', message);
}

/** A string a key could start with: well-formed, at most the key bound in UTF-8 bytes. */
function keyText(v: unknown, name: string, limits: Limits, emptyOk: boolean): string {
  if (typeof v !== 'string') throw bad(`"${name}" must be a string, got ${v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v}`);
  if (!emptyOk && v.length === 0) throw bad(`"${name}" must not be empty`);
  const bytes = Buffer.byteLength(v, 'utf8');
  if (bytes > limits.keyBytesMax) throw bad(`"${name}" is ${bytes} UTF-8 bytes, at most ${limits.keyBytesMax} allowed`);
  if (v.isWellFormed && !v.isWellFormed()) throw bad(`"${name}" contains a lone surrogate (not valid UTF-16/UTF-8)`);
  return v;
}

/**
 * `{"prefix"?, "after"?, "limit"?}`; fields it does not name are ignored, as on every public
 * subject. An empty body lists from the start.
 */
export function parseKeys(data: Uint8Array, limits: Limits): KeysRequest {
  const body = data.length === 0 ? new Map<string, unknown>() : parseBody(data, limits);
  const p = body.get('prefix');
  const a = body.get('after');
  const l = body.get('limit');
  const prefix = p === undefined ? '' : keyText(p, 'prefix', limits, true);
  const after = a === undefined ? undefined : keyText(a, 'after', limits, false);
  if (l !== undefined && (typeof l !== 'number' || !Number.isInteger(l) || l < 1 || l > KEYS_LIMIT_MAX)) throw bad(`"limit" must be an integer in 1..${KEYS_LIMIT_MAX}, got ${JSON.stringify(l)}`);
  const limit = l === undefined ? KEYS_LIMIT_DEFAULT : l;
  return { prefix, limit, ...(after !== undefined ? { after } : {}) };
}

/** What a coordinator asks one node: the page of these partitions (`ps`) for the request. */
export interface NodeKeysRequest extends KeysRequest {
  readonly ps: readonly number[];
}

/** A node's page, and the partitions it was asked for but holds no complete copy of. */
export interface NodeKeysReply extends KeysPage {
  readonly refused: readonly number[];
}

const isPrefix = (x: unknown, limits: WireLimits): x is string => x === '' || isWireKey(x, limits);

export function parseNodeKeysRequest(bytes: Uint8Array, limits: WireLimits): NodeKeysRequest {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x)) throw new WireError('a keys request is {prefix, after?, limit, ps}');
  if (!isPrefix(x.prefix, limits)) throw new WireError('a keys request: prefix must be a string within the key bound');
  if (x.after !== undefined && !isWireKey(x.after, limits)) throw new WireError('a keys request: after must be a key');
  if (typeof x.limit !== 'number' || !Number.isInteger(x.limit) || x.limit < 1 || x.limit > KEYS_LIMIT_MAX) throw new WireError(`a keys request: limit must be an integer in 1..${KEYS_LIMIT_MAX}`);
  const ps = x.ps;
  if (!Array.isArray(ps) || ps.length === 0 || ps.length > limits.q || !ps.every((p) => isPartition(p, limits)) || new Set(ps).size !== ps.length) throw new WireError(`a keys request: ps must be distinct partitions in [0, ${limits.q})`);
  return { prefix: x.prefix, limit: x.limit, ps: ps as number[], ...(x.after !== undefined ? { after: x.after } : {}) };
}

/**
 * A peer's answer to `req`, checked against it: keys strictly ascending, each with the prefix,
 * after `after` and not past `next`, at most `limit` of them; refused partitions among those
 * asked. Anything else is a WireError: that peer counts as not answering.
 */
export function parseNodeKeysReply(bytes: Uint8Array, req: NodeKeysRequest, limits: WireLimits): NodeKeysReply {
  const x = decodeInternal(bytes);
  if (!isPlainObject(x)) throw new WireError('a keys reply is {keys, next, refused} or {error}');
  if (typeof x.error === 'string') throw new WireError(x.error.slice(0, 1000));
  const { keys, next, refused } = x;
  // A `next` not past `after` would send the client round in circles.
  if (next !== null && (!isWireKey(next, limits) || !hasPrefix(next, req.prefix) || (req.after !== undefined && compareCodePoints(next, req.after) <= 0))) throw new WireError('a keys reply: next must be null or a key with the prefix past after');
  if (!Array.isArray(refused) || !refused.every((p) => req.ps.includes(p as number)) || new Set(refused).size !== refused.length) throw new WireError('a keys reply: refused must be partitions it was asked for');
  if (!Array.isArray(keys) || keys.length > req.limit) throw new WireError(`a keys reply: keys must be a list of at most ${req.limit}`);
  let prev = req.after;
  for (const k of keys as unknown[]) {
    if (!isWireKey(k, limits) || !hasPrefix(k, req.prefix)) throw new WireError('a keys reply: a key without the prefix, or not a key');
    if (prev !== undefined && compareCodePoints(k, prev) <= 0) throw new WireError('a keys reply: keys out of order');
    prev = k;
  }
  if (next !== null && prev !== undefined && compareCodePoints(next, prev) < 0) throw new WireError('a keys reply: next before its last key');
  return { keys: keys as string[], next, refused: refused as number[] };
}
