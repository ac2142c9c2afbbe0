import { Packr } from 'msgpackr';

/**
 * Internal (node-to-node) wire codec. msgpack keeps byte values as bytes (no base64 inflation)
 * and is several times cheaper to encode than JSON for clocks. Records (structure sharing) stay
 * off: each message must decode on its own, by any node, in any order.
 */
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeInternal(message: unknown): Uint8Array {
  return packr.pack(message);
}

export function decodeInternal<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}
