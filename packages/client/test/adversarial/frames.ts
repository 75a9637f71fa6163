// HTTP/2 frames as bytes (RFC 9113 §4.1, §6), for a test peer that must be able to write any
// frame, valid or not. Nothing here checks anything: a scenario that wants a PING of 7 bytes on
// stream 3 gets exactly that. Header blocks come from hpack-writer.ts.

import { type HeaderFields, headerBlock } from "./hpack-writer.js";

/** Frame types (RFC 9113 §6); 0xfa is an extension type nobody defines, to test "ignore unknown". */
export const FrameType = {
  data: 0x0,
  headers: 0x1,
  priority: 0x2,
  rstStream: 0x3,
  settings: 0x4,
  pushPromise: 0x5,
  ping: 0x6,
  goAway: 0x7,
  windowUpdate: 0x8,
  continuation: 0x9,
  unknown: 0xfa,
} as const;

const typeNames = [
  "DATA",
  "HEADERS",
  "PRIORITY",
  "RST_STREAM",
  "SETTINGS",
  "PUSH_PROMISE",
  "PING",
  "GOAWAY",
  "WINDOW_UPDATE",
  "CONTINUATION",
];

/** "RST_STREAM" for 3, "0xfa" for a type RFC 9113 does not define: for failure messages. */
export function typeName(type: number): string {
  return typeNames[type] ?? `0x${type.toString(16)}`;
}

export const Flag = { endStream: 0x1, ack: 0x1, endHeaders: 0x4, padded: 0x8, priority: 0x20 } as const;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const Setting = {
  headerTableSize: 0x1,
  enablePush: 0x2,
  maxConcurrentStreams: 0x3,
  initialWindowSize: 0x4,
  maxFrameSize: 0x5,
  maxHeaderListSize: 0x6,
} as const;

/** Error codes (RFC 9113 §7). */
export const ErrorCode = {
  noError: 0x0,
  protocolError: 0x1,
  internalError: 0x2,
  flowControlError: 0x3,
  settingsTimeout: 0x4,
  streamClosed: 0x5,
  frameSizeError: 0x6,
  refusedStream: 0x7,
  cancel: 0x8,
  compressionError: 0x9,
  enhanceYourCalm: 0xb,
} as const;

/** The client connection preface (RFC 9113 §3.4). */
export const clientPreface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** Largest frame payload either side accepts without a SETTINGS_MAX_FRAME_SIZE raise. */
export const defaultMaxFrame = 16_384;

/** Any frame: 9-byte header, then the payload as given. The R bit of the stream id is kept clear. */
export function frame(type: number, flags: number, streamId: number, payload: Uint8Array = empty): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId >>> 0, 5);
  out.set(payload, 9);
  return out;
}

const empty = new Uint8Array(0);

export interface SettingsOptions {
  ack?: boolean;
  /** SETTINGS belong on stream 0; another id makes the frame invalid. */
  streamId?: number;
}

/** SETTINGS with the given [identifier, value] entries (six bytes each). */
export function settings(
  entries: ReadonlyArray<readonly [number, number]> = [],
  options: SettingsOptions = {},
): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value >>> 0, i * 6 + 2);
  });
  return frame(FrameType.settings, options.ack ? Flag.ack : 0, options.streamId ?? 0, payload);
}

export interface HeadersOptions {
  endStream?: boolean;
  /** Default true; false leaves the block open for CONTINUATION frames. */
  endHeaders?: boolean;
  /** Pads the frame with this many zero bytes (PADDED flag, pad length byte). */
  padLength?: number;
  /** Adds the PRIORITY flag and its 5 bytes (exclusive bit clear, dependency 0, weight 16). */
  priority?: boolean;
}

/**
 * HEADERS carrying `fields` (encoded as literals without indexing, see hpack-writer.ts) or an
 * already encoded block fragment.
 */
export function headers(
  streamId: number,
  fields: HeaderFields | Uint8Array,
  options: HeadersOptions = {},
): Buffer {
  const block = fields instanceof Uint8Array ? fields : headerBlock(fields);
  let flags = options.endHeaders === false ? 0 : Flag.endHeaders;
  if (options.endStream) flags |= Flag.endStream;
  const parts: Uint8Array[] = [];
  if (options.padLength !== undefined) {
    flags |= Flag.padded;
    parts.push(Uint8Array.of(options.padLength));
  }
  if (options.priority) {
    flags |= Flag.priority;
    parts.push(Uint8Array.of(0, 0, 0, 0, 15));
  }
  parts.push(block);
  if (options.padLength !== undefined) parts.push(new Uint8Array(options.padLength));
  return frame(FrameType.headers, flags, streamId, Buffer.concat(parts));
}

export function continuation(streamId: number, fragment: Uint8Array, options: { endHeaders?: boolean } = {}) {
  return frame(FrameType.continuation, options.endHeaders ? Flag.endHeaders : 0, streamId, fragment);
}

/**
 * A header block split into HEADERS plus CONTINUATION frames of at most `chunk` bytes, the last
 * one with END_HEADERS.
 */
export function headerFrames(
  streamId: number,
  block: Uint8Array,
  options: { endStream?: boolean; chunk?: number } = {},
): Buffer[] {
  const chunk = options.chunk ?? defaultMaxFrame;
  const frames: Buffer[] = [];
  for (let off = 0; off < block.length || off === 0; off += chunk) {
    const part = block.subarray(off, off + chunk);
    const last = off + chunk >= block.length;
    frames.push(
      off === 0
        ? headers(streamId, part, { endStream: options.endStream ?? false, endHeaders: last })
        : continuation(streamId, part, { endHeaders: last }),
    );
  }
  return frames;
}

export interface DataOptions {
  endStream?: boolean;
  /** Pads the frame with this many zero bytes (PADDED flag, pad length byte). */
  padLength?: number;
}

export function data(streamId: number, bytes: Uint8Array, options: DataOptions = {}): Buffer {
  let flags = options.endStream ? Flag.endStream : 0;
  if (options.padLength === undefined) return frame(FrameType.data, flags, streamId, bytes);
  flags |= Flag.padded;
  const payload = Buffer.concat([Uint8Array.of(options.padLength), bytes, new Uint8Array(options.padLength)]);
  return frame(FrameType.data, flags, streamId, payload);
}

/** RST_STREAM; `length` other than 4 makes a malformed one (the code truncated or zero-extended). */
export function rstStream(streamId: number, code: number, length = 4): Buffer {
  const payload = Buffer.alloc(Math.max(length, 4));
  payload.writeUInt32BE(code, 0);
  return frame(FrameType.rstStream, 0, streamId, payload.subarray(0, length));
}

export interface PingOptions {
  ack?: boolean;
  streamId?: number;
}

/** PING with `opaque` as its payload (8 bytes for a valid one). */
export function ping(opaque: Uint8Array = Buffer.alloc(8), options: PingOptions = {}): Buffer {
  return frame(FrameType.ping, options.ack ? Flag.ack : 0, options.streamId ?? 0, opaque);
}

/** GOAWAY: last stream id, error code, then debug data (latin1). */
export function goAway(
  lastStreamId: number,
  code: number,
  debug: string | Uint8Array = "",
  streamId = 0,
): Buffer {
  const debugBytes = typeof debug === "string" ? Buffer.from(debug, "latin1") : debug;
  const payload = Buffer.alloc(8 + debugBytes.length);
  payload.writeUInt32BE(lastStreamId, 0);
  payload.writeUInt32BE(code, 4);
  payload.set(debugBytes, 8);
  return frame(FrameType.goAway, 0, streamId, payload);
}

/** WINDOW_UPDATE; `length` other than 4 makes a malformed one. */
export function windowUpdate(streamId: number, increment: number, length = 4): Buffer {
  const payload = Buffer.alloc(Math.max(length, 4));
  payload.writeUInt32BE(increment >>> 0, 0);
  return frame(FrameType.windowUpdate, 0, streamId, payload.subarray(0, length));
}

export function pushPromise(streamId: number, promisedId: number, fields: HeaderFields): Buffer {
  const block = headerBlock(fields);
  const payload = Buffer.alloc(4 + block.length);
  payload.writeUInt32BE(promisedId, 0);
  payload.set(block, 4);
  return frame(FrameType.pushPromise, Flag.endHeaders, streamId, payload);
}

/** PRIORITY (deprecated by RFC 9113 but still valid): dependency 0, the given weight. */
export function priority(streamId: number, weight = 16): Buffer {
  return frame(FrameType.priority, 0, streamId, Uint8Array.of(0, 0, 0, 0, weight - 1));
}

/** One frame the client sent, as the peer parsed it. */
export interface ClientFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** ms since the peer started, for "when" questions in failure messages. */
  at: number;
}

/**
 * Splits the client's byte stream into its preface and frames. Frames are handed over as they
 * complete; the payload is a view into the read buffer, valid during the callback only.
 */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private prefaceSeen = false;
  /** Set when the first 24 bytes were not the HTTP/2 preface. */
  badPreface = false;
  private readonly onFrame: (frame: Omit<ClientFrame, "at">) => void;

  constructor(onFrame: (frame: Omit<ClientFrame, "at">) => void) {
    this.onFrame = onFrame;
  }

  push(chunk: Buffer): void {
    let buf = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    if (!this.prefaceSeen) {
      if (buf.length < clientPreface.length) {
        this.buffered = buf;
        return;
      }
      this.prefaceSeen = true;
      this.badPreface = !buf.subarray(0, clientPreface.length).equals(clientPreface);
      buf = buf.subarray(clientPreface.length);
    }
    let off = 0;
    while (buf.length - off >= 9) {
      const length = buf.readUIntBE(off, 3);
      if (buf.length - off - 9 < length) break;
      this.onFrame({
        type: buf[off + 3] as number,
        flags: buf[off + 4] as number,
        streamId: buf.readUInt32BE(off + 5) & 0x7fff_ffff,
        payload: buf.subarray(off + 9, off + 9 + length),
      });
      off += 9 + length;
    }
    this.buffered = Buffer.from(buf.subarray(off));
  }
}
