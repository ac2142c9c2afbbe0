/**
 * The public `context` string (DESIGN.md §3): a version vector made opaque and URL-safe, and
 * optionally the node that should coordinate the write that carries it back.
 *
 * Formats (a format version, then base64url, unpadded, of UTF-8 JSON):
 * - "c1" + [[id, counter], ...]: the vector alone. Still issued when there is no node to name,
 *   and accepted for ever: clients keep contexts (DESIGN.md §3: any context a get returned).
 * - "c2" + [[[id, counter], ...], node]: the vector and a node name (src/subjects.ts
 *   isValidName). The node is Dynamo's write coordinator (§6.4): the owner whose reply to the
 *   read came first, which the client library sends the next put or delete to. It is a hint
 *   only: nodes never read it, and a client that finds none, or one that is down, sends the
 *   write where it would have anyway.
 *
 * Clients must treat it as opaque; it is decoded only here, by `decodeContext` (the vector) and
 * `contextCoordinator` (the node), which trust nothing: it comes from the network.
 */
import { isValidName } from './subjects.ts';
import { isVersionVector, type VersionVector } from './versionVector.ts';

/** The vector alone. */
export const CONTEXT_PREFIX = 'c1';
/** The vector and the node to coordinate the next write. */
export const CONTEXT_PREFIX_COORDINATOR = 'c2';
/** At most this many entries (actor ids) in a context. */
export const CONTEXT_ENTRIES_MAX = 64;
/** Longest actor id in a context, in characters. */
export const CONTEXT_ID_CHARS_MAX = 64;
/**
 * Longest context string accepted. Every vector within the bounds above fits, with a node: an
 * entry is at most 2 + 64 + 2 + 16 (a safe integer) + 2 = 86 bytes of JSON, 64 entries at most
 * 5506 bytes with the brackets; "c2" adds at most 5 + 64 (the longest node name), 5575 bytes:
 * 7434 base64url characters, plus the prefix.
 */
export const CONTEXT_CHARS_MAX = 8192;

// Printable ASCII without space, '"' and '\': JSON carries it unescaped (keeping the bound above
// exact) and it covers node names (A-Z a-z 0-9 _ -) and any "node/partition" style actor id.
const ID_PATTERN = /^[!#-[\]-~]+$/;
const BASE64URL_PATTERN = /^[A-Za-z0-9_-]*$/;
// One decoder for every call: building one costs more than decoding a context.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A context that this store did not issue, or that was damaged on the way. */
export class ContextError extends Error {
  override readonly name = 'ContextError';
  /** The public protocol error code for it. */
  readonly code = 'bad_request';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** Can `id` appear in a context? Actor ids that fail this cannot be handed to clients. */
export function isContextId(id: unknown): id is string {
  return typeof id === 'string' && id.length >= 1 && id.length <= CONTEXT_ID_CHARS_MAX && ID_PATTERN.test(id);
}

/**
 * "c1" without `coordinator`, "c2" with it. Throws a ContextError when `vv` is not a version
 * vector within the bounds above or `coordinator` is not a node name: that is a broken invariant
 * on the caller's side (actor ids and node names are chosen by the store), never bad input.
 */
export function encodeContext(vv: VersionVector, coordinator?: string): string {
  checkVector(vv);
  if (coordinator !== undefined && !isValidName(coordinator)) throw new ContextError(`context coordinator ${JSON.stringify(coordinator)} is not a node name`);
  const s = coordinator === undefined ? CONTEXT_PREFIX + base64url(vectorJson(vv)) : CONTEXT_PREFIX_COORDINATOR + base64url(`[${vectorJson(vv)},"${coordinator}"]`);
  if (s.length > CONTEXT_CHARS_MAX) throw new ContextError(`context is ${s.length} characters, at most ${CONTEXT_CHARS_MAX}`);
  return s;
}

/**
 * JSON.stringify(vv), spelled out: a checked vector's ids need no escaping (ID_PATTERN) and its
 * counters are safe integers, so the text is the same, at about half the cost on the hot path
 * (every reply carries a context).
 */
function vectorJson(vv: VersionVector): string {
  let s = '[';
  for (let i = 0; i < vv.length; i++) {
    const [id, n] = vv[i]!;
    s += `${i === 0 ? '' : ','}["${id}",${n}]`;
  }
  return `${s}]`;
}

/** The text is ASCII (see vectorJson; node names are too), so latin1 is its UTF-8. */
function base64url(json: string): string {
  return Buffer.from(json, 'latin1').toString('base64url');
}

/** Base64url digits: A-Z a-z 0-9 - _ (the payload passed BASE64URL_PATTERN). */
function digitOf(c: number): number {
  if (c >= 65 && c <= 90) return c - 65;
  if (c >= 97 && c <= 122) return c - 71;
  if (c >= 48 && c <= 57) return c + 4;
  return c === 45 ? 62 : 63;
}

/**
 * Is the unpadded base64url `payload` the one spelling of its bytes? Node's decoder skips a lone
 * last digit and the unused low bits of the last one, so other spellings decode alike: a length
 * of 1 mod 4 is never canonical, and the bits past the last whole byte must be zero.
 */
function isCanonicalBase64url(payload: string): boolean {
  const tail = payload.length % 4;
  if (tail === 1) return false;
  if (tail === 0) return true;
  const last = digitOf(payload.charCodeAt(payload.length - 1));
  return (last & (tail === 2 ? 0x0f : 0x03)) === 0;
}

/** The vector of any context this store issued ("c1" or "c2"); a ContextError for anything else. */
export function decodeContext(s: unknown): VersionVector {
  return decodeFull(s).vv;
}

/**
 * The node a context names to coordinate the next write, or undefined: none named, or the context
 * is damaged or forged (then the write's node rejects it, as it would have anyway). Never throws.
 */
export function contextCoordinator(s: unknown): string | undefined {
  // Most contexts name none: a "c1" is not decoded here at all.
  if (typeof s !== 'string' || !s.startsWith(CONTEXT_PREFIX_COORDINATOR)) return undefined;
  try {
    return decodeFull(s).coordinator;
  } catch {
    return undefined;
  }
}

function decodeFull(s: unknown): { vv: VersionVector; coordinator: string | undefined } {
  if (typeof s !== 'string') throw new ContextError(`context must be a string, got ${s === null ? 'null' : typeof s}`);
  if (s.length > CONTEXT_CHARS_MAX) throw new ContextError(`context is ${s.length} characters, at most ${CONTEXT_CHARS_MAX}`);
  const named = s.startsWith(CONTEXT_PREFIX_COORDINATOR);
  if (!named && !s.startsWith(CONTEXT_PREFIX)) throw new ContextError(`context must start with "${CONTEXT_PREFIX}" or "${CONTEXT_PREFIX_COORDINATOR}"`);
  // Both prefixes are 2 characters.
  const payload = s.slice(CONTEXT_PREFIX.length);
  if (payload === '') throw new ContextError('context has no payload');
  if (!BASE64URL_PATTERN.test(payload)) throw new ContextError('context payload is not base64url (A-Z a-z 0-9 - _, no padding)');
  // Node's decoder skips stray bits and impossible lengths; only the canonical spelling counts.
  if (!isCanonicalBase64url(payload)) throw new ContextError('context payload is not canonical base64url');
  const bytes = Buffer.from(payload, 'base64url');
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch (err) {
    throw new ContextError('context payload is not UTF-8', { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ContextError('context payload is not JSON', { cause: err });
  }
  let coordinator: string | undefined;
  if (named) {
    if (!Array.isArray(parsed) || parsed.length !== 2) throw new ContextError('a "c2" context must hold [vector, node]');
    const node: unknown = parsed[1];
    if (typeof node !== 'string' || !isValidName(node)) throw new ContextError('a "c2" context\'s node must be 1..64 characters of A-Z a-z 0-9 _ -');
    coordinator = node;
    parsed = parsed[0];
  }
  checkVector(parsed);
  // Fresh pairs: nothing of the parsed object (extra properties, prototypes) leaks out.
  return { vv: parsed.map(([id, n]) => [id, n] as const), coordinator };
}

function checkVector(x: unknown): asserts x is VersionVector {
  if (!Array.isArray(x)) throw new ContextError('context must hold an array of [id, counter] pairs');
  if (x.length > CONTEXT_ENTRIES_MAX) throw new ContextError(`context has ${x.length} entries, at most ${CONTEXT_ENTRIES_MAX}`);
  for (const [k, e] of (x as unknown[]).entries()) {
    if (!Array.isArray(e) || e.length !== 2) throw new ContextError(`context entry ${k} is not an [id, counter] pair`);
    const [id, n] = e as unknown[];
    if (!isContextId(id)) {
      throw new ContextError(`context entry ${k}: id must be 1..${CONTEXT_ID_CHARS_MAX} printable ASCII characters without space, '"' or '\\'`);
    }
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) {
      throw new ContextError(`context entry ${k}: counter must be a positive safe integer`);
    }
  }
  if (!isVersionVector(x)) throw new ContextError('context ids must be sorted and unique');
}
