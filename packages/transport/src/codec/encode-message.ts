// Encoding: size everything first, then write into one array (protobuf-es forks and joins chunks).
import { ScalarType } from "@bufbuild/protobuf";
import { allocBytes } from "./byte-slab.js";
import {
  ASCII_LOOP_MAX,
  type Compiled,
  type FieldPlan,
  LIST,
  LIST_MESSAGE,
  type Msg,
  NO_BYTES,
  type Oneof,
  SCALAR,
  tagOf,
  type UnknownField,
  varint32Size,
} from "./field-plan.js";

interface Writer {
  buf: Uint8Array;
  pos: number;
  /**
   * Lengths the sizing pass found (nested messages, packed lists, strings), in the order written:
   * the first `count` entries (the array is kept from call to call, and may hold more).
   */
  lengths: number[];
  count: number;
  next: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT32_MAX = 3.4028234663852886e38;
const textEncoder = new TextEncoder();
const scratch = new DataView(new ArrayBuffer(8));
/** What {@link present} returns for a field toBinary leaves out. */
const UNSET = Symbol("unset");
/** The two 32-bit halves of the last 64-bit value to write. */
let lo = 0;
let hi = 0;
// The last value split64 split, and its halves.
let splitValue: bigint | undefined;
let splitType: ScalarType | undefined;
let splitLo = 0;
let splitHi = 0;
// The writer of every call but a nested one: a writer per call was an object and an array of
// garbage for every request encoded.
const writer: Writer = { buf: NO_BYTES, pos: 0, lengths: [], count: 0, next: 0 };
// True while `writer` is in use: a message whose getter encodes another message (a Proxy, say)
// must not reset it under the outer call, so the inner one gets a writer of its own.
let writerBusy = false;
/** Lengths the writer keeps for the next call at most (a huge message's are let go). */
const keptLengths = 1024;

/**
 * The bytes toBinary writes, after `headroom` bytes left for the caller (not zeroed); throws on any
 * message it leaves to protobuf-es (see `messageCodec`).
 */
export function encodeMessage(compiled: Compiled, message: Msg, headroom: number): Uint8Array {
  if (writerBusy) {
    return encodeWith({ buf: NO_BYTES, pos: 0, lengths: [], count: 0, next: 0 }, compiled, message, headroom);
  }
  writerBusy = true;
  try {
    return encodeWith(writer, compiled, message, headroom);
  } finally {
    writerBusy = false;
    // Not kept past the call: the writer would pin the slab the bytes are in.
    writer.buf = NO_BYTES;
    if (writer.count > keptLengths) writer.lengths = [];
  }
}

function encodeWith(w: Writer, compiled: Compiled, message: Msg, headroom: number): Uint8Array {
  w.pos = headroom;
  w.next = 0;
  w.count = 0;
  const size = headroom + sizeFields(compiled, message, w);
  const buf = allocBytes(size);
  w.buf = buf;
  writeFields(compiled, message, w);
  if (w.pos !== size) throw new Error(`wrote ${w.pos - headroom} bytes of ${size - headroom}`);
  return buf;
}

/** The value toBinary writes for the field (its unsafeIsSet and unsafeGet), or UNSET. */
function present(f: FieldPlan, message: Msg): unknown {
  if (f.oneof !== "") {
    const adt = message[f.oneof] as Oneof;
    return adt.case === f.name ? adt.value : UNSET;
  }
  const value = message[f.name];
  switch (f.mode) {
    case SCALAR:
      return isZero(f.type, value) ? UNSET : value;
    case LIST:
    case LIST_MESSAGE:
      return (value as unknown[]).length > 0 ? value : UNSET;
    default:
      return value === undefined ? UNSET : value;
  }
}

/** protobuf-es's isScalarZeroValue, strict: values it compares loosely (0 for 0n) fail in sizeScalar. */
function isZero(type: ScalarType, value: unknown): boolean {
  switch (type) {
    case ScalarType.BOOL:
      return value === false;
    case ScalarType.STRING:
      return value === "";
    case ScalarType.BYTES:
      return value instanceof Uint8Array && value.length === 0;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return Object.is(value, 0); // -0 is written
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return value === 0n;
    default:
      return value === 0;
  }
}

function sizeFields(compiled: Compiled, message: Msg, w: Writer): number {
  if (message.$typeName !== compiled.typeName) throw new Error(`not a ${compiled.typeName}`);
  let size = 0;
  const fields = compiled.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldPlan;
    const value = present(f, message);
    if (value === UNSET) continue;
    if (f.mode === LIST) {
      size += sizeList(f, value as unknown[], w);
    } else if (f.mode === LIST_MESSAGE) {
      const list = value as Msg[];
      for (let j = 0; j < list.length; j++) size += f.tagSize + sizeNested(f, list[j] as Msg, w);
    } else if (f.child !== undefined) {
      size += f.tagSize + sizeNested(f, value as Msg, w);
    } else {
      size += f.tagSize + sizeScalar(f.type, value, w);
    }
  }
  const unknown = message.$unknown as UnknownField[] | undefined | null;
  for (let i = 0; unknown !== undefined && unknown !== null && i < unknown.length; i++) {
    const field = unknown[i] as UnknownField;
    if (!(field.data instanceof Uint8Array)) throw new Error("invalid unknown field");
    size += varint32Size(tagOf(field.no, field.wireType)) + field.data.length;
  }
  return size;
}

function writeFields(compiled: Compiled, message: Msg, w: Writer): void {
  const fields = compiled.fields;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as FieldPlan;
    const value = present(f, message);
    if (value === UNSET) continue;
    if (f.mode === LIST) {
      writeList(f, value as unknown[], w);
    } else if (f.mode === LIST_MESSAGE) {
      const list = value as Msg[];
      for (let j = 0; j < list.length; j++) writeNested(f, list[j] as Msg, w);
    } else if (f.child !== undefined) {
      writeNested(f, value as Msg, w);
    } else {
      writeVarint32(w, f.tag);
      writeScalar(f.type, value, w);
    }
  }
  const unknown = message.$unknown as UnknownField[] | undefined | null;
  for (let i = 0; unknown !== undefined && unknown !== null && i < unknown.length; i++) {
    const field = unknown[i] as UnknownField;
    writeVarint32(w, tagOf(field.no, field.wireType));
    w.buf.set(field.data, w.pos);
    w.pos += field.data.length;
  }
}

function sizeNested(f: FieldPlan, message: Msg, w: Writer): number {
  const slot = w.count++;
  w.lengths[slot] = 0;
  const size = sizeFields(f.child as Compiled, message, w);
  w.lengths[slot] = size;
  return varint32Size(size) + size;
}

function writeNested(f: FieldPlan, message: Msg, w: Writer): void {
  writeVarint32(w, f.tag);
  writeVarint32(w, w.lengths[w.next++] ?? 0);
  writeFields(f.child as Compiled, message, w);
}

function sizeList(f: FieldPlan, list: unknown[], w: Writer): number {
  let size = 0;
  if (!f.packed) {
    for (let i = 0; i < list.length; i++) size += f.tagSize + sizeScalar(f.type, list[i], w);
    return size;
  }
  const slot = w.count++;
  w.lengths[slot] = 0;
  for (let i = 0; i < list.length; i++) size += sizeScalar(f.type, list[i], w);
  w.lengths[slot] = size;
  return f.tagSize + varint32Size(size) + size;
}

function writeList(f: FieldPlan, list: unknown[], w: Writer): void {
  if (f.packed) {
    writeVarint32(w, f.tag);
    writeVarint32(w, w.lengths[w.next++] ?? 0);
  }
  for (let i = 0; i < list.length; i++) {
    if (!f.packed) writeVarint32(w, f.tag);
    writeScalar(f.type, list[i], w);
  }
}

function invalid(type: ScalarType, value: unknown): Error {
  return new Error(`invalid ${ScalarType[type]}: ${typeof value === "bigint" ? value : typeof value}`);
}

/** Size of a value; throws for any value protobuf-es would reject or first convert. */
function sizeScalar(type: ScalarType, value: unknown, w: Writer): number {
  switch (type) {
    case ScalarType.STRING: {
      if (typeof value !== "string") throw invalid(type, value);
      const len = utf8Length(value);
      w.lengths[w.count++] = len;
      return varint32Size(len) + len;
    }
    case ScalarType.BYTES:
      if (!(value instanceof Uint8Array)) throw invalid(type, value);
      return varint32Size(value.length) + value.length;
    case ScalarType.BOOL:
      if (typeof value !== "boolean") throw invalid(type, value);
      return 1;
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      if (typeof value !== "number") throw invalid(type, value);
      if (type === ScalarType.FLOAT && Number.isFinite(value) && Math.abs(value) > FLOAT32_MAX) {
        throw invalid(type, value);
      }
      return type === ScalarType.FLOAT ? 4 : 8;
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      split64(type, value);
      return 8;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
      split64(type, value);
      return hi === 0 ? varint32Size(lo >>> 0) : Math.ceil((64 - Math.clz32(hi)) / 7);
  }
  const signed = type !== ScalarType.UINT32 && type !== ScalarType.FIXED32;
  const [min, max] = signed ? [-0x80000000, 0x7fffffff] : [0, 0xffffffff];
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(type, value);
  }
  if (type === ScalarType.FIXED32 || type === ScalarType.SFIXED32) return 4;
  if (type === ScalarType.SINT32) return varint32Size(zigzag32(value));
  return value < 0 ? 10 : varint32Size(value);
}

function writeScalar(type: ScalarType, value: unknown, w: Writer): void {
  switch (type) {
    case ScalarType.STRING:
      writeString(value as string, w);
      break;
    case ScalarType.BYTES:
      writeBytes(value as Uint8Array, w);
      break;
    case ScalarType.BOOL:
      w.buf[w.pos++] = value ? 1 : 0;
      break;
    case ScalarType.UINT32:
      writeVarint32(w, value as number);
      break;
    case ScalarType.SINT32:
      writeVarint32(w, zigzag32(value as number));
      break;
    case ScalarType.INT32: // and enums: negative numbers are sign-extended to 10 bytes
      lo = value as number;
      hi = lo < 0 ? -1 : 0;
      writeVarint64(w);
      break;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
      split64(type, value);
      writeVarint64(w);
      break;
    default:
      writeFixed(type, value, w);
  }
}

function writeFixed(type: ScalarType, value: unknown, w: Writer): void {
  let size = 4;
  if (type === ScalarType.DOUBLE) {
    scratch.setFloat64(0, value as number, true);
    size = 8;
  } else if (type === ScalarType.FLOAT) {
    scratch.setFloat32(0, value as number, true);
  } else if (type === ScalarType.FIXED32 || type === ScalarType.SFIXED32) {
    scratch.setUint32(0, (value as number) >>> 0, true);
  } else {
    split64(type, value);
    scratch.setInt32(0, lo, true);
    scratch.setInt32(4, hi, true);
    size = 8;
  }
  for (let i = 0; i < size; i++) w.buf[w.pos++] = scratch.getUint8(i);
}

/** Checks an int64-like value and sets lo and hi to the bits protobuf-es writes. */
function split64(type: ScalarType, value: unknown): void {
  // A value is split when its message is sized and again when it is written: the second time
  // reuses the halves, without the BigInt comparisons and conversions again.
  if (value === splitValue && type === splitType) {
    lo = splitLo;
    hi = splitHi;
    return;
  }
  const unsigned = type === ScalarType.UINT64 || type === ScalarType.FIXED64;
  if (
    typeof value !== "bigint" ||
    value < (unsigned ? 0n : INT64_MIN) ||
    value > (unsigned ? UINT64_MAX : INT64_MAX)
  ) {
    throw invalid(type, value);
  }
  const bits = type !== ScalarType.SINT64 ? value : value >= 0n ? value << 1n : (-value << 1n) - 1n;
  if (bits >= 0n && bits <= 0x1fffffffffffffn) {
    const n = Number(bits);
    lo = n >>> 0;
    hi = (n - lo) / 0x100000000;
  } else {
    // Through the scratch view: the halves come out without a BigInt made for each.
    if (bits >= 0n) scratch.setBigUint64(0, bits, true);
    else scratch.setBigInt64(0, bits, true);
    lo = scratch.getInt32(0, true);
    hi = scratch.getInt32(4, true);
  }
  splitValue = value;
  splitType = type;
  splitLo = lo;
  splitHi = hi;
}

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

function writeVarint32(w: Writer, value: number): void {
  const buf = w.buf;
  let v = value;
  while (v > 0x7f) {
    buf[w.pos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  buf[w.pos++] = v;
}

/** protobuf-es's varint64write, of lo and hi. */
function writeVarint64(w: Writer): void {
  const buf = w.buf;
  for (let i = 0; i < 28; i += 7) {
    const shift = lo >>> i;
    const more = shift >>> 7 !== 0 || hi !== 0;
    buf[w.pos++] = (more ? shift | 0x80 : shift) & 0xff;
    if (!more) return;
  }
  const middle = ((lo >>> 28) & 0x0f) | ((hi & 0x07) << 4);
  if (hi >> 3 === 0) {
    buf[w.pos++] = middle;
    return;
  }
  buf[w.pos++] = middle | 0x80;
  for (let i = 3; i < 31; i += 7) {
    const shift = hi >>> i;
    const more = shift >>> 7 !== 0;
    buf[w.pos++] = (more ? shift | 0x80 : shift) & 0xff;
    if (!more) return;
  }
  buf[w.pos++] = (hi >>> 31) & 0x01;
}

/** UTF-8 length as TextEncoder encodes: a lone surrogate becomes U+FFFD, 3 bytes. */
function utf8Length(text: string): number {
  let size = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    size += c < 0x800 ? 1 : 2;
    if ((c & 0xfc00) === 0xd800 && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++; // a pair: 4 bytes
  }
  return size;
}

function writeString(text: string, w: Writer): void {
  const len = w.lengths[w.next++] ?? 0;
  writeVarint32(w, len);
  if (len === text.length && len <= ASCII_LOOP_MAX) {
    for (let i = 0; i < len; i++) w.buf[w.pos++] = text.charCodeAt(i);
  } else {
    textEncoder.encodeInto(text, w.buf.subarray(w.pos, w.pos + len));
    w.pos += len;
  }
}

function writeBytes(bytes: Uint8Array, w: Writer): void {
  writeVarint32(w, bytes.length);
  if (bytes.length <= ASCII_LOOP_MAX) {
    for (let i = 0; i < bytes.length; i++) w.buf[w.pos++] = bytes[i] ?? 0;
  } else {
    w.buf.set(bytes, w.pos);
    w.pos += bytes.length;
  }
}
