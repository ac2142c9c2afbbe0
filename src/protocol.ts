/**
 * The public protocol (DESIGN.md §3): parsing and validating client requests, shaping replies.
 * Everything a client sends passes through here before it can reach an actor, so bad input is
 * answered with a typed error and never changes stored data.
 */
import { decodeContext, ContextError } from './context.ts';
import { DkvError } from './errors.ts';
import type { VersionVector } from './versionVector.ts';

export interface Limits {
  readonly n: number;
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
}

export type Encoding = 'utf8' | 'base64';

export interface GetRequest {
  readonly key: string;
  readonly r?: number;
  readonly encoding: Encoding;
}

export interface WriteRequest {
  readonly key: string;
  /** null is a delete: a tombstone written like any value, so it is versioned and replicated. */
  readonly value: Uint8Array | null;
  readonly context?: VersionVector;
  readonly w?: number;
  readonly encoding: Encoding;
  /** `"if"`: applied only when the condition holds at the replicas heard (src/conditions.ts). */
  readonly condition?: WriteCondition;
  /** `"ttl_ms"` (puts only): the version expires this long after the coordinator wrote it. */
  readonly ttlMs?: number;
}

export type WriteCondition = 'absent' | 'current';
export const WRITE_CONDITIONS: readonly WriteCondition[] = ['absent', 'current'];
/** The longest `ttl_ms` accepted: about 100 years, so that its expiry time stays a safe integer. */
export const TTL_MS_MAX = 100 * 365 * 24 * 60 * 60 * 1000;

/** A TTL this store accepts, from a client or a peer: a positive safe integer of ms, at most TTL_MS_MAX. */
export function isTtlMs(t: unknown): t is number {
  return typeof t === 'number' && Number.isSafeInteger(t) && t >= 1 && t <= TTL_MS_MAX;
}

export interface KeyRequest {
  readonly key: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const textDecoder = new TextDecoder('utf-8', { fatal: true });

function bad(message: string): DkvError {
  return new DkvError('bad_request', message);
}

/** JSON bodies are bounded before parsing so a huge payload costs no parse. */
export function requestBytesMax(limits: Limits): number {
  return Math.ceil((limits.valueBytesMax * 4) / 3) + 4 * limits.keyBytesMax + 16 * 1024;
}

export function parseBody(data: Uint8Array, limits: Limits): Map<string, unknown> {
  if (data.length > requestBytesMax(limits)) {
    throw new DkvError('too_large', `request of ${data.length} bytes exceeds ${requestBytesMax(limits)} bytes`);
  }
  return fields(parseJson(data));
}

function parseJson(data: Uint8Array): unknown {
  let text: string;
  try {
    text = textDecoder.decode(data);
  } catch {
    throw bad('request body is not valid UTF-8');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw bad(`malformed JSON: ${(err as Error).message}`);
  }
}

function fields(parsed: unknown): Map<string, unknown> {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw bad('request body must be a JSON object');
  }
  // A Map, so that a field named "__proto__" or "constructor" is just a field.
  return new Map(Object.entries(parsed));
}

function encodingOf(body: Map<string, unknown>): Encoding {
  const enc = body.get('encoding');
  if (enc === undefined) return 'utf8';
  if (enc === 'base64') return 'base64';
  throw bad(`"encoding" must be "base64" when present, got ${JSON.stringify(enc)}`);
}

export function validateKey(key: unknown, limits: Limits): string {
  if (key === undefined) throw bad('"key" is required');
  if (typeof key !== 'string') throw bad(`"key" must be a string, got ${typeName(key)}`);
  if (key.length === 0) throw bad('"key" must not be empty');
  const bytes = Buffer.byteLength(key, 'utf8');
  if (bytes > limits.keyBytesMax) throw bad(`"key" is ${bytes} UTF-8 bytes, at most ${limits.keyBytesMax} allowed`);
  if (key.isWellFormed && !key.isWellFormed()) throw bad('"key" contains a lone surrogate (not valid UTF-16/UTF-8)');
  return key;
}

function quorumField(body: Map<string, unknown>, name: 'r' | 'w', limits: Limits): number | undefined {
  const v = body.get(name);
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > limits.n) {
    throw bad(`"${name}" must be an integer in 1..${limits.n}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function contextField(body: Map<string, unknown>): VersionVector | undefined {
  const c = body.get('context');
  if (c === undefined) return undefined;
  try {
    return decodeContext(c);
  } catch (err) {
    if (err instanceof ContextError) throw bad(`"context" is not a context this store issued: ${err.message}`);
    throw err;
  }
}

function conditionField(body: Map<string, unknown>, context: VersionVector | undefined): WriteCondition | undefined {
  const c = body.get('if');
  if (c === undefined) return undefined;
  if (!WRITE_CONDITIONS.includes(c as WriteCondition)) throw bad(`"if" must be "absent" or "current", got ${JSON.stringify(c)}`);
  if (c === 'current' && context === undefined) throw bad('"if": "current" needs the "context" of the read it is based on');
  return c as WriteCondition;
}

function ttlField(body: Map<string, unknown>): number | undefined {
  const t = body.get('ttl_ms');
  if (t === undefined) return undefined;
  if (!isTtlMs(t)) {
    throw bad(`"ttl_ms" must be a positive integer of milliseconds, at most ${TTL_MS_MAX}, got ${JSON.stringify(t)}`);
  }
  return t;
}

function valueField(body: Map<string, unknown>, encoding: Encoding, limits: Limits): Uint8Array {
  const v = body.get('value');
  if (v === undefined) throw bad('"value" is required');
  if (typeof v !== 'string') throw bad(`"value" must be a string, got ${typeName(v)}`);
  let bytes: Uint8Array;
  if (encoding === 'base64') {
    if (!BASE64.test(v)) throw bad('"value" is not valid base64');
    bytes = Buffer.from(v, 'base64');
  } else {
    if (v.isWellFormed && !v.isWellFormed()) throw bad('"value" contains a lone surrogate');
    bytes = Buffer.from(v, 'utf8');
  }
  if (bytes.length > limits.valueBytesMax) {
    throw new DkvError('too_large', `value of ${bytes.length} bytes exceeds the limit of ${limits.valueBytesMax} bytes`);
  }
  return bytes;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

export function parseGet(data: Uint8Array, limits: Limits): GetRequest {
  return getFrom(parseBody(data, limits), limits);
}

function getFrom(body: Map<string, unknown>, limits: Limits): GetRequest {
  const key = validateKey(body.get('key'), limits);
  const encoding = encodingOf(body);
  const r = quorumField(body, 'r', limits);
  return r === undefined ? { key, encoding } : { key, r, encoding };
}

export function parsePut(data: Uint8Array, limits: Limits): WriteRequest {
  return putFrom(parseBody(data, limits), limits);
}

function putFrom(body: Map<string, unknown>, limits: Limits): WriteRequest {
  const key = validateKey(body.get('key'), limits);
  const encoding = encodingOf(body);
  const w = quorumField(body, 'w', limits);
  const context = contextField(body);
  const condition = conditionField(body, context);
  const ttlMs = ttlField(body);
  const value = valueField(body, encoding, limits);
  return { key, value, encoding, ...(context ? { context } : {}), ...(w !== undefined ? { w } : {}), ...(condition ? { condition } : {}), ...(ttlMs !== undefined ? { ttlMs } : {}) };
}

export function parseDelete(data: Uint8Array, limits: Limits): WriteRequest {
  return deleteFrom(parseBody(data, limits), limits);
}

function deleteFrom(body: Map<string, unknown>, limits: Limits): WriteRequest {
  const key = validateKey(body.get('key'), limits);
  const encoding = encodingOf(body);
  const w = quorumField(body, 'w', limits);
  const context = contextField(body);
  const condition = conditionField(body, context);
  if (body.has('ttl_ms')) throw bad('"ttl_ms" applies to a put, not a delete');
  return { key, value: null, encoding, ...(context ? { context } : {}), ...(w !== undefined ? { w } : {}), ...(condition ? { condition } : {}) };
}

export function parseKeyOnly(data: Uint8Array, limits: Limits): KeyRequest {
  const body = parseBody(data, limits);
  return { key: validateKey(body.get('key'), limits) };
}

export interface PeekRequest {
  readonly key: string;
  readonly encoding: Encoding;
}

/** `node.<ID>.peek`: a key and, like get, an optional "encoding". */
export function parsePeek(data: Uint8Array, limits: Limits): PeekRequest {
  const body = parseBody(data, limits);
  return { key: validateKey(body.get('key'), limits), encoding: encodingOf(body) };
}

/**
 * `status` takes no fields, but its body is still checked: an empty payload or a JSON object
 * (whose fields are ignored); anything else is a client bug worth telling about.
 */
export function parseStatus(data: Uint8Array, limits: Limits): Record<string, never> {
  if (data.length > 0) parseBody(data, limits);
  return {};
}

export function parseNodeRequest(data: Uint8Array, limits: Limits): { node: string } {
  const body = parseBody(data, limits);
  const node = body.get('node');
  if (typeof node !== 'string' || node.length === 0) throw bad('"node" must be a non-empty string');
  return { node };
}

export function encodeValue(value: Uint8Array, encoding: Encoding): string {
  return encoding === 'base64' ? Buffer.from(value).toString('base64') : Buffer.from(value).toString('utf8');
}

export interface GetReply {
  key: string;
  found: boolean;
  values: string[];
  context: string;
}

export function getReply(key: string, live: readonly Uint8Array[], context: string, encoding: Encoding): GetReply {
  return { key, found: live.length > 0, values: live.map((v) => encodeValue(v, encoding)), context };
}

/**
 * `dkv.<cluster>.batch`: several get/put/delete requests in one message, as the client library
 * pipelines them. Each element of `ops` is the body of the single request plus `"op"`; each is
 * validated on its own, so one bad element is answered with its own error and the others go on.
 */
export const BATCH_OPS_MAX = 1024;

export type BatchOp = { kind: 'get'; req: GetRequest } | { kind: 'put' | 'delete'; req: WriteRequest };

export function parseBatch(data: Uint8Array, limits: Limits): Array<BatchOp | DkvError> {
  const bytesMax = BATCH_OPS_MAX * requestBytesMax(limits);
  if (data.length > bytesMax) throw new DkvError('too_large', `batch of ${data.length} bytes exceeds ${bytesMax} bytes`);
  const ops = fields(parseJson(data)).get('ops');
  if (!Array.isArray(ops)) throw bad(`"ops" must be an array, got ${typeName(ops)}`);
  if (ops.length === 0 || ops.length > BATCH_OPS_MAX) throw bad(`"ops" must hold 1..${BATCH_OPS_MAX} requests, got ${ops.length}`);
  return ops.map((raw): BatchOp | DkvError => {
    try {
      const body = fields(raw);
      const op = body.get('op');
      if (op === 'get') return { kind: 'get', req: getFrom(body, limits) };
      if (op === 'put') return { kind: 'put', req: putFrom(body, limits) };
      if (op === 'delete') return { kind: 'delete', req: deleteFrom(body, limits) };
      throw bad(`"op" must be "get", "put" or "delete", got ${JSON.stringify(op) ?? 'nothing'}`);
    } catch (err) {
      if (err instanceof DkvError) return err;
      throw err;
    }
  });
}
