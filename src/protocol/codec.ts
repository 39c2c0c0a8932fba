/**
 * MessagePack encoding of wire messages, with one Packr for encoding and one for decoding,
 * built once. Maps are plain MessagePack maps (no msgpackr record extension) so any
 * MessagePack library can speak the protocol. Decoding copies binary fields because uWS
 * frees a message's buffer when its handler returns.
 */
import { Packr } from "msgpackr";

const encoder = new Packr({ useRecords: false, moreTypes: false, bundleStrings: false, variableMapSize: true });
const decoder = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: "number" });

export function encode(msg: object): Buffer {
  return encoder.pack(msg);
}

/** Decodes one frame; returns undefined when the bytes are not one valid MessagePack value. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return decoder.unpack(bytes) as unknown;
  } catch {
    return undefined;
  }
}
