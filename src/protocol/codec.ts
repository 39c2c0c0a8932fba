/**
 * MessagePack encoding of wire messages. Maps are plain MessagePack maps (no msgpackr record
 * extension) so any MessagePack library can speak the protocol.
 *
 * - `encode` is wire.ts's `pack`: integers always as MessagePack integers (msgpackr would write
 *   those beyond 32 bits as float64).
 * - `decode` is msgpackr, for frames from a node we chose to trust (the SDK reading a node,
 *   a replica reading its sequencer). It copies binary fields because uWS frees a message's
 *   buffer when its handler returns. Frames from untrusted peers go through validate.ts, which
 *   reads them strictly (wire.ts's `unpackFields`).
 */
import { Packr } from "msgpackr";
import { pack } from "./wire.js";

const decoder = new Packr({ useRecords: false, mapsAsObjects: true, copyBuffers: true, int64AsType: "number" });

export function encode(msg: object): Buffer {
  return pack(msg);
}

/** Decodes one frame; returns undefined when the bytes are not one valid MessagePack value. */
export function decode(bytes: Uint8Array): unknown {
  try {
    return decoder.unpack(bytes) as unknown;
  } catch {
    return undefined;
  }
}
