/**
 * The public `context` string (DESIGN.md §3): a version vector made opaque and URL-safe.
 *
 * Format: "c1" (format version) + base64url, unpadded, of the UTF-8 JSON array
 * [[id, counter], ...]. Clients must treat it as opaque; it is decoded only by `decodeContext`,
 * which trusts nothing: it comes from the network.
 */
import { isVersionVector, type VersionVector } from './versionVector.ts';

export const CONTEXT_PREFIX = 'c1';
/** At most this many entries (actor ids) in a context. */
export const CONTEXT_ENTRIES_MAX = 64;
/** Longest actor id in a context, in characters. */
export const CONTEXT_ID_CHARS_MAX = 64;
/**
 * Longest context string accepted. Every vector within the bounds above fits: an entry is at most
 * 2 + 64 + 2 + 16 (a safe integer) + 2 = 86 bytes of JSON, 64 entries 5506 bytes with the
 * brackets, 7342 base64url characters, plus the prefix.
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
 * Throws a ContextError when `vv` is not a version vector within the bounds above: that is a
 * broken invariant on the caller's side (actor ids are chosen by the store), never bad input.
 */
export function encodeContext(vv: VersionVector): string {
  checkVector(vv);
  const s = CONTEXT_PREFIX + Buffer.from(JSON.stringify(vv), 'utf8').toString('base64url');
  if (s.length > CONTEXT_CHARS_MAX) throw new ContextError(`context is ${s.length} characters, at most ${CONTEXT_CHARS_MAX}`);
  return s;
}

export function decodeContext(s: unknown): VersionVector {
  if (typeof s !== 'string') throw new ContextError(`context must be a string, got ${s === null ? 'null' : typeof s}`);
  if (s.length > CONTEXT_CHARS_MAX) throw new ContextError(`context is ${s.length} characters, at most ${CONTEXT_CHARS_MAX}`);
  if (!s.startsWith(CONTEXT_PREFIX)) throw new ContextError(`context must start with "${CONTEXT_PREFIX}"`);
  const payload = s.slice(CONTEXT_PREFIX.length);
  if (payload === '') throw new ContextError('context has no payload');
  if (!BASE64URL_PATTERN.test(payload)) throw new ContextError('context payload is not base64url (A-Z a-z 0-9 - _, no padding)');
  const bytes = Buffer.from(payload, 'base64url');
  // Node's decoder skips stray bits and impossible lengths; only the canonical spelling counts.
  if (bytes.toString('base64url') !== payload) throw new ContextError('context payload is not canonical base64url');
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
  checkVector(parsed);
  // Fresh pairs: nothing of the parsed object (extra properties, prototypes) leaks out.
  return parsed.map(([id, n]) => [id, n] as const);
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
