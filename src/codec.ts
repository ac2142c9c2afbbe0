/**
 * Internal (node-to-node) wire codec: msgpack, through src/wire.ts, which owns the format and
 * the checks of every internal message. msgpack keeps byte values as bytes (no base64
 * inflation) and is several times cheaper to encode than JSON for clocks.
 */
import { decodeInternal as decode, encodeInternal } from './wire.ts';

export { encodeInternal };

/** Decodes without checking the shape: only for messages whose every field the caller checks. */
export function decodeInternal<T>(bytes: Uint8Array): T {
  return decode(bytes) as T;
}
