import type { DescMessage, MessageShape } from "@bufbuild/protobuf";
import { allocBytes } from "../codec/byte-slab.js";
import { messageCodec } from "../codec/message-codec.js";

/** Bytes of a gRPC message's envelope: a flags byte and a big-endian uint32 length. */
export const envelopeHeaderBytes = 5;

/** A message in its gRPC envelope (uncompressed), in one buffer ready for a DATA frame. */
export function encodeEnvelope(payload: Uint8Array): Uint8Array {
  const frame = allocBytes(envelopeHeaderBytes + payload.length);
  frame.set(payload, envelopeHeaderBytes);
  writeEnvelopeHeader(frame);
  return frame;
}

/**
 * `message` encoded straight into its envelope: the codec leaves room for the envelope's header,
 * so the message is written once and never copied. The message's size is `length - 5`.
 */
export function encodeEnveloped<Desc extends DescMessage>(
  desc: Desc,
  message: MessageShape<Desc>,
): Uint8Array {
  const frame = messageCodec(desc).encode(message, envelopeHeaderBytes);
  writeEnvelopeHeader(frame);
  return frame;
}

function writeEnvelopeHeader(frame: Uint8Array): void {
  const length = frame.length - envelopeHeaderBytes;
  frame[0] = 0; // not compressed
  frame[1] = length >>> 24;
  frame[2] = (length >>> 16) & 0xff;
  frame[3] = (length >>> 8) & 0xff;
  frame[4] = length & 0xff;
}
