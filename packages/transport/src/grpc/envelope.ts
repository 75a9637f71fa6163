/** Bytes of a gRPC message's envelope: a flags byte and a big-endian uint32 length. */
export const envelopeHeaderBytes = 5;

/** A message in its gRPC envelope (uncompressed), in one buffer ready for a DATA frame. */
export function encodeEnvelope(payload: Uint8Array): Uint8Array {
  const length = payload.length;
  const frame = new Uint8Array(envelopeHeaderBytes + length);
  frame[1] = length >>> 24;
  frame[2] = (length >>> 16) & 0xff;
  frame[3] = (length >>> 8) & 0xff;
  frame[4] = length & 0xff;
  frame.set(payload, envelopeHeaderBytes);
  return frame;
}
