// HTTP/2 frame types, flags and settings (RFC 9113 §6), and the frame encoder.

export const frameType = {
  data: 0,
  headers: 1,
  priority: 2,
  rstStream: 3,
  settings: 4,
  pushPromise: 5,
  ping: 6,
  goAway: 7,
  windowUpdate: 8,
  continuation: 9,
} as const;

export const frameFlag = {
  endStream: 0x1,
  ack: 0x1,
  endHeaders: 0x4,
  padded: 0x8,
  priority: 0x20,
} as const;

export const setting = {
  headerTableSize: 0x1,
  enablePush: 0x2,
  maxConcurrentStreams: 0x3,
  initialWindowSize: 0x4,
  maxFrameSize: 0x5,
  maxHeaderListSize: 0x6,
} as const;

/** Bytes of a frame header: length (24 bits), type, flags, stream id (31 bits). */
export const frameHeaderBytes = 9;

/** The client connection preface (RFC 9113 §3.4). */
export const connectionPreface = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");

/** The largest window and stream id HTTP/2 allows. */
export const maxWindow = 2 ** 31 - 1;
export const maxStreamId = 2 ** 31 - 1;

/** Writes the header of a frame carrying `payload` at `pos`; returns where the payload goes. */
export function writeFrameHeader(
  out: Uint8Array,
  pos: number,
  type: number,
  flags: number,
  id: number,
  payload: Uint8Array | undefined,
): number {
  const length = payload === undefined ? 0 : payload.length;
  out[pos] = length >>> 16;
  out[pos + 1] = (length >>> 8) & 0xff;
  out[pos + 2] = length & 0xff;
  out[pos + 3] = type;
  out[pos + 4] = flags;
  out[pos + 5] = (id >>> 24) & 0x7f;
  out[pos + 6] = (id >>> 16) & 0xff;
  out[pos + 7] = (id >>> 8) & 0xff;
  out[pos + 8] = id & 0xff;
  return pos + frameHeaderBytes;
}
