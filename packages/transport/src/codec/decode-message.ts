// Decoding: the same steps as protobuf-es's BinaryReader, without per-field lookups and allocations.
import { ScalarType } from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";
import {
  ASCII_LOOP_MAX,
  type Compiled,
  type FieldPlan,
  LIST_MESSAGE,
  MESSAGE,
  type Msg,
  NO_BYTES,
  ONEOF_MESSAGE,
  ONEOF_SCALAR,
  type Oneof,
  OPTIONAL,
  SCALAR,
  UNSET_BYTES,
  type UnknownField,
  WIRE_BIT32,
  WIRE_BIT64,
  WIRE_LEN,
  WIRE_VARINT,
  wireTypeOf,
} from "./field-plan.js";

interface Reader {
  readonly buf: Uint8Array;
  pos: number;
}

/** protobuf-es's default `recursionLimit`. */
const RECURSION_LIMIT = 100;
const textEncoding = getTextEncoding();
const scratch = new DataView(new ArrayBuffer(8));
/** The two 32-bit halves of the last 64-bit varint read. */
let lo = 0;
let hi = 0;

/** The message `bytes` hold; throws on any input it leaves to protobuf-es (see `messageCodec`). */
export function decodeMessage(compiled: Compiled, bytes: Uint8Array): Msg {
  const message = compiled.create();
  readFields(compiled, { buf: bytes, pos: 0 }, message, bytes.length, 1);
  return message;
}

/**
 * The message whose bytes are `parts`, in order: the message {@link decodeMessage} makes of their
 * concatenation, without concatenating them (a large message as the socket reads it arrived in).
 * A run of top-level fields that lies within one part is decoded where it lies, so its bytes
 * fields are views into that part; a field spanning parts is copied out on its own first.
 * Decoding a run merges into the message exactly as reading on past it would, so the runs add up
 * to one pass. Throws where `decodeMessage` would, and on a group's wire type (see `fieldEnd`).
 */
export function decodeMessageParts(compiled: Compiled, parts: readonly Uint8Array[]): Msg {
  const message = compiled.create();
  let left = 0;
  for (let i = 0; i < parts.length; i++) left += (parts[i] as Uint8Array).length;
  let i = 0;
  let pos = 0;
  while (i < parts.length) {
    const part = parts[i] as Uint8Array;
    const whole = wholeFieldsEnd(part, pos);
    if (whole > pos) {
      readFields(compiled, { buf: part, pos }, message, whole, 1);
      left -= whole - pos;
      pos = whole;
    }
    if (pos === part.length) {
      i++;
      pos = 0;
      continue;
    }
    const field = new Uint8Array(spanningFieldLength(parts, i, pos, left));
    left -= field.length;
    for (let at = 0; at < field.length; ) {
      const from = parts[i] as Uint8Array;
      const n = Math.min(from.length - pos, field.length - at);
      field.set(from.subarray(pos, pos + n), at);
      at += n;
      pos += n;
      if (pos === from.length) {
        i++;
        pos = 0;
      }
    }
    readFields(compiled, { buf: field, pos: 0 }, message, field.length, 1);
  }
  return message;
}

// Where the top-level fields that lie wholly in `buf` from `pos` on end.
function wholeFieldsEnd(buf: Uint8Array, pos: number): number {
  let at = pos;
  for (;;) {
    const end = fieldEnd(buf, at, buf.length);
    if (end < 0) return at;
    at = end;
  }
}

// The length of the field starting at `pos` of `parts[first]`, which runs past that part, with
// `left` bytes from there to the end of the last part: its first bytes, up to 21 (a tag and a
// length, or a varint), are gathered to find its end.
function spanningFieldLength(parts: readonly Uint8Array[], first: number, pos: number, left: number): number {
  const head = fieldHead;
  let filled = 0;
  for (let i = first, from = pos; i < parts.length && filled < maxFieldHead; i++, from = 0) {
    const part = parts[i] as Uint8Array;
    const n = Math.min(part.length - from, maxFieldHead - filled);
    head.set(part.subarray(from, from + n), filled);
    filled += n;
  }
  const end = fieldEnd(head, 0, filled);
  // A length field's head says where it ends even though its value lies past the head.
  const length = end >= 0 ? end : fieldEndPastHead;
  if (length < 0 || length > left) throw eof();
  return length;
}

/** A tag (5 bytes at most) and a varint (10) or a length (10): what `fieldEnd` reads of a field. */
const maxFieldHead = 21;
const fieldHead = new Uint8Array(maxFieldHead);
/** Set by `fieldEnd` when a length-delimited field's value runs past `limit`: where it ends. */
let fieldEndPastHead = -1;

/**
 * The end of the field at `at`, read the way `readFields` reads it: -1 when it runs past `limit`
 * (then `fieldEndPastHead` holds its end when its tag and length were within `limit`, else -1).
 * Throws on what `readFields` would refuse in any case (a tag or varint past 10 bytes, the wire
 * type of a group), which sends the message to protobuf-es.
 */
function fieldEnd(buf: Uint8Array, at: number, limit: number): number {
  fieldEndPastHead = -1;
  let pos = at;
  // The tag: its wire type is all that matters here; readFields checks the rest.
  let wireType = -1;
  for (let n = 0; ; n++) {
    if (pos >= limit) return -1;
    if (n === 10) throw new Error("invalid varint");
    const b = buf[pos++] as number;
    if (n === 0) wireType = b & 7;
    if (b < 0x80) break;
  }
  switch (wireType) {
    case WIRE_VARINT:
      // As readUnknown skips one; a known field past 10 bytes is refused by readFields.
      for (;;) {
        if (pos >= limit) return -1;
        if ((buf[pos++] as number) < 0x80) return pos;
      }
    case WIRE_BIT64:
      return pos + 8 <= limit ? pos + 8 : -1;
    case WIRE_BIT32:
      return pos + 4 <= limit ? pos + 4 : -1;
    case WIRE_LEN: {
      // readUint32's reading: up to 10 bytes, the bits past 32 dropped.
      let length = 0;
      for (let n = 0; ; n++) {
        if (pos >= limit) return -1;
        if (n === 10) throw new Error("invalid varint");
        const b = buf[pos++] as number;
        if (n < 4) length |= (b & 0x7f) << (7 * n);
        else if (n === 4) length = (length | ((b & 0x0f) << 28)) >>> 0;
        if (b < 0x80) break;
      }
      const end = pos + (length >>> 0);
      if (end <= limit) return end;
      fieldEndPastHead = end;
      return -1;
    }
    default:
      throw new Error(`cannot split wire type ${wireType}`);
  }
}

function readMessage(compiled: Compiled, r: Reader, into: Msg | undefined, depth: number): Msg {
  const end = readLength(r);
  // A repeated occurrence of a message field merges into the first, as in protobuf-es.
  const message = into ?? compiled.create();
  readFields(compiled, r, message, end, depth + 1);
  return message;
}

function readFields(compiled: Compiled, r: Reader, message: Msg, end: number, depth: number): void {
  if (depth > RECURSION_LIMIT) throw new Error(`maximum recursion depth of ${RECURSION_LIMIT} reached`);
  const byTag = compiled.byTag;
  let unknown: UnknownField[] | undefined;
  while (r.pos < end) {
    let tag = r.buf[r.pos] ?? 0;
    if (tag < 0x80) r.pos++;
    else tag = readTag(r);
    const f = tag < byTag.length ? byTag[tag] : undefined;
    if (f === undefined) {
      unknown = readUnknown(compiled, r, message, tag, unknown);
      continue;
    }
    switch (f.mode) {
      case SCALAR:
      case OPTIONAL:
        message[f.name] = readScalar(r, f.type, f.strictUtf8);
        break;
      case ONEOF_SCALAR:
        message[f.oneof] = { case: f.name, value: readScalar(r, f.type, f.strictUtf8) };
        break;
      case MESSAGE:
        message[f.name] = readMessage(f.child as Compiled, r, message[f.name] as Msg | undefined, depth);
        break;
      case ONEOF_MESSAGE: {
        const current = message[f.oneof] as Oneof;
        const into = current.case === f.name ? (current.value as Msg) : undefined;
        message[f.oneof] = { case: f.name, value: readMessage(f.child as Compiled, r, into, depth) };
        break;
      }
      case LIST_MESSAGE:
        (message[f.name] as Msg[]).push(readMessage(f.child as Compiled, r, undefined, depth));
        break;
      default:
        readListItems(r, f, message[f.name] as unknown[], tag & 7);
    }
  }
  // protobuf-es lets a field run past the end of its message; its fallback reproduces that.
  if (r.pos !== end) throw new Error("field overruns its message");
  if (unknown !== undefined) message.$unknown = unknown;
  const bytesFields = compiled.bytesFields;
  for (let i = 0; i < bytesFields.length; i++) {
    const name = bytesFields[i] as string;
    if (message[name] === UNSET_BYTES) message[name] = NO_BYTES.subarray();
  }
}

function readListItems(r: Reader, f: FieldPlan, list: unknown[], wireType: number): void {
  if (wireType !== WIRE_LEN || wireTypeOf(f.type) === WIRE_LEN) {
    list.push(readScalar(r, f.type, f.strictUtf8));
    return;
  }
  const end = readLength(r);
  while (r.pos < end) list.push(readScalar(r, f.type, f.strictUtf8));
  if (r.pos !== end) throw new Error("packed field overruns its length");
}

/** protobuf-es's BinaryReader.tag() checks. */
function readTag(r: Reader): number {
  const start = r.pos;
  const tag = readUint32(r);
  if (r.pos - start > 5 || (r.pos - start === 5 && (r.buf[r.pos - 1] ?? 0) > 0x0f)) {
    throw new Error("illegal tag: varint overflows uint32");
  }
  return tag;
}

function readUnknown(compiled: Compiled, r: Reader, message: Msg, tag: number, unknown?: UnknownField[]) {
  const no = tag >>> 3;
  const wireType = tag & 7;
  if (no === 0 || wireType > 5) throw new Error(`illegal tag: field no ${no} wire type ${wireType}`);
  // A known field with another wire type, or a group: left to protobuf-es's own reading.
  if (compiled.numbers.has(no)) throw new Error(`unexpected wire type ${wireType} for field ${no}`);
  const start = r.pos;
  if (wireType === WIRE_VARINT) {
    while ((r.buf[r.pos++] ?? 0) >= 0x80) {}
  } else if (wireType === WIRE_BIT64) {
    r.pos += 8;
  } else if (wireType === WIRE_BIT32) {
    r.pos += 4;
  } else if (wireType === WIRE_LEN) {
    r.pos = readLength(r);
  } else {
    throw new Error(`cannot skip wire type ${wireType}`);
  }
  if (r.pos > r.buf.length) throw eof();
  // A merged message appends to the unknown fields it already has, as in protobuf-es.
  const fields = unknown ?? (message.$unknown as UnknownField[] | undefined) ?? [];
  // A copy, not a view: a message type without bytes fields then never pins its input (see
  // `holdsInputViews`), and unknown fields are rare enough for the copy not to matter.
  // (`new Uint8Array(view)` copies; a Buffer's `slice` would not.)
  fields.push({ no, wireType, data: new Uint8Array(r.buf.subarray(start, r.pos)) });
  return fields;
}

function readScalar(r: Reader, type: ScalarType, strictUtf8: boolean): unknown {
  switch (type) {
    case ScalarType.INT64:
      return readInt64(r, true);
    case ScalarType.BYTES: {
      const end = readLength(r);
      const start = r.pos;
      r.pos = end;
      return r.buf.subarray(start, end);
    }
    case ScalarType.BOOL: {
      const b = r.buf[r.pos] ?? 0x80;
      if (b < 0x80) {
        r.pos++;
        return b !== 0;
      }
      readVarint64(r);
      return lo !== 0 || hi !== 0;
    }
    case ScalarType.STRING:
      return readString(r, strictUtf8);
    case ScalarType.UINT64:
      return readInt64(r, false);
    case ScalarType.INT32:
      return readUint32(r) | 0;
    case ScalarType.UINT32:
      return readUint32(r);
    case ScalarType.SINT32: {
      const z = readUint32(r);
      return (z >>> 1) ^ -(z & 1);
    }
    case ScalarType.SINT64: {
      readVarint64(r);
      const sign = -(lo & 1);
      lo = ((lo >>> 1) | ((hi & 1) << 31)) ^ sign;
      hi = (hi >>> 1) ^ sign;
      return join64(true);
    }
    case ScalarType.FIXED32:
      return readFixed(r, 4).getUint32(0, true);
    case ScalarType.SFIXED32:
      return readFixed(r, 4).getInt32(0, true);
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64: {
      const view = readFixed(r, 8);
      lo = view.getInt32(0, true);
      hi = view.getInt32(4, true);
      return join64(type === ScalarType.SFIXED64);
    }
    case ScalarType.FLOAT:
      return readFixed(r, 4).getFloat32(0, true);
    case ScalarType.DOUBLE:
      return readFixed(r, 8).getFloat64(0, true);
  }
}

function eof(): Error {
  return new RangeError("premature EOF");
}

function readLength(r: Reader): number {
  const end = readUint32(r) + r.pos;
  if (end > r.buf.length) throw eof();
  return end;
}

/** protobuf-es's varint32read: up to 10 bytes, the bits past 32 dropped. */
function readUint32(r: Reader): number {
  const buf = r.buf;
  let pos = r.pos;
  let result = 0;
  let b = 0x80;
  for (let shift = 0; shift < 28 && b >= 0x80; shift += 7) {
    b = buf[pos++] ?? 0;
    result |= (b & 0x7f) << shift;
  }
  if (b >= 0x80) {
    b = buf[pos++] ?? 0;
    result = (result | ((b & 0x0f) << 28)) >>> 0;
    for (let n = 5; b >= 0x80 && n < 10; n++) b = buf[pos++] ?? 0;
    if (b >= 0x80) throw new Error("invalid varint");
  }
  if (pos > buf.length) throw eof();
  r.pos = pos;
  return result;
}

/** protobuf-es's varint64read, into lo and hi. */
function readVarint64(r: Reader): void {
  const buf = r.buf;
  let pos = r.pos;
  let low = 0;
  let high = 0;
  let b = 0x80;
  for (let shift = 0; shift < 28 && b >= 0x80; shift += 7) {
    b = buf[pos++] ?? 0;
    low |= (b & 0x7f) << shift;
  }
  if (b >= 0x80) {
    b = buf[pos++] ?? 0;
    low |= (b & 0x0f) << 28;
    high = (b & 0x70) >> 4;
    for (let shift = 3; shift <= 31 && b >= 0x80; shift += 7) {
      b = buf[pos++] ?? 0;
      high |= (b & 0x7f) << shift;
    }
    if (b >= 0x80) throw new Error("invalid varint");
  }
  if (pos > buf.length) throw eof();
  r.pos = pos;
  lo = low;
  hi = high;
}

// BigInts of recently decoded 64-bit values, by their low bits. etcd repeats most of its 64-bit
// values from message to message (a header's cluster and member ids, raft term and revision, a
// lease's TTL, a key's version), and each new BigInt is a heap allocation. BigInts are
// immutable, so handing out the same one again is indistinguishable from a new one.
const recentSlots = 64;
const recentNumbers = new Float64Array(recentSlots).fill(-1);
const recentSmall: bigint[] = new Array<bigint>(recentSlots).fill(0n);
// Past 2^53: the halves, and whether the value was read as signed (it matters when hi < 0).
const recentLo = new Int32Array(recentSlots);
const recentHi = new Int32Array(recentSlots);
const recentSigned = new Uint8Array(recentSlots);
const recentLarge: bigint[] = new Array<bigint>(recentSlots).fill(0n);

function smallBigInt(value: number): bigint {
  const slot = value & (recentSlots - 1);
  if (recentNumbers[slot] === value) return recentSmall[slot] as bigint;
  const big = BigInt(value);
  recentNumbers[slot] = value;
  recentSmall[slot] = big;
  return big;
}

function readInt64(r: Reader, signed: boolean): bigint {
  // Up to 7 bytes (49 bits) add up exactly in a double: every revision and lease TTL in practice.
  const buf = r.buf;
  let pos = r.pos;
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7; i++, scale *= 128) {
    const b = buf[pos++] ?? 0;
    value += (b & 0x7f) * scale;
    if (b < 0x80) {
      if (pos > buf.length) throw eof();
      r.pos = pos;
      return smallBigInt(value);
    }
  }
  readVarint64(r);
  return join64(signed);
}

function join64(signed: boolean): bigint {
  if (hi >= 0 && hi <= 0x1fffff) return smallBigInt(hi * 0x100000000 + (lo >>> 0));
  const slot = lo & (recentSlots - 1);
  const sign = signed ? 1 : 0;
  if (recentLo[slot] === lo && recentHi[slot] === hi && recentSigned[slot] === sign) {
    return recentLarge[slot] as bigint;
  }
  scratch.setInt32(0, lo, true);
  scratch.setInt32(4, hi, true);
  const big = signed ? scratch.getBigInt64(0, true) : scratch.getBigUint64(0, true);
  recentLo[slot] = lo;
  recentHi[slot] = hi;
  recentSigned[slot] = sign;
  recentLarge[slot] = big;
  return big;
}

function readFixed(r: Reader, size: number): DataView {
  const pos = r.pos;
  if (pos + size > r.buf.length) throw eof();
  for (let i = 0; i < size; i++) scratch.setUint8(i, r.buf[pos + i] ?? 0);
  r.pos = pos + size;
  return scratch;
}

function readString(r: Reader, strictUtf8: boolean): string {
  const end = readLength(r);
  const buf = r.buf;
  const start = r.pos;
  r.pos = end;
  if (end - start <= ASCII_LOOP_MAX) {
    let text = "";
    for (let i = start; i < end; i++) {
      const c = buf[i] ?? 0;
      if (c >= 0x80) return textEncoding.decodeUtf8(buf.subarray(start, end), strictUtf8);
      text += String.fromCharCode(c);
    }
    return text;
  }
  return textEncoding.decodeUtf8(buf.subarray(start, end), strictUtf8);
}
