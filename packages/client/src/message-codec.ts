import {
  type DescField,
  type DescMessage,
  fromBinary,
  type MessageShape,
  protoInt64,
  ScalarType,
  toBinary,
} from "@bufbuild/protobuf";
import { getTextEncoding } from "@bufbuild/protobuf/wire";

/**
 * A binary codec compiled once for one message type. It produces exactly what protobuf-es's reflective
 * `toBinary` / `fromBinary` produce, several times faster: the descriptor is walked once, not per message.
 */
export interface MessageCodec<Desc extends DescMessage> {
  /** Same bytes as `toBinary(desc, message)`. */
  encode(message: MessageShape<Desc>): Uint8Array;
  /** Same message as `fromBinary(desc, bytes)`: `$unknown` kept, `bytes` fields are views into `bytes`. */
  decode(bytes: Uint8Array): MessageShape<Desc>;
}

/**
 * The codec for `desc`, compiled on first use and cached per descriptor.
 *
 * Message types the compiler does not cover (map fields, proto2 and editions features such as groups,
 * required fields, closed enums or defaults, `jstype`, well-known types, 64-bit integers without BigInt)
 * use protobuf-es's `toBinary` / `fromBinary`. So does any input the compiled path refuses: malformed
 * bytes, a known field with an unexpected wire type, an unknown group, or a value protobuf-es would
 * convert or reject (an int64 given as a string, an out-of-range int32). Results and errors are therefore
 * always protobuf-es's own.
 */
export function messageCodec<Desc extends DescMessage>(desc: Desc): MessageCodec<Desc> {
  let codec = codecs.get(desc) as MessageCodec<Desc> | undefined;
  if (codec === undefined) {
    const compiled = compiledCodec(desc);
    codec = {
      // On any refusal protobuf-es starts over: it returns the same result or throws its own error.
      encode(message) {
        try {
          if (compiled !== undefined) return compiled.encode(message);
        } catch {}
        return toBinary(desc, message);
      },
      decode(bytes) {
        try {
          if (compiled !== undefined) return compiled.decode(bytes);
        } catch {}
        return fromBinary(desc, bytes);
      },
    };
    codecs.set(desc, codec);
  }
  return codec;
}

/**
 * The compiled codec without the protobuf-es fallback: it throws where {@link messageCodec} defers.
 * `undefined` when `desc` is not compilable. Tests use it to prove the fast path ran.
 * @internal
 */
export function compiledCodec<Desc extends DescMessage>(desc: Desc): MessageCodec<Desc> | undefined {
  if (!isCompilable(desc)) return undefined;
  const compiled = compile(desc);
  return {
    encode: (message) => encodeMessage(compiled, message as unknown as Msg),
    decode: (bytes) => decodeMessage(compiled, bytes) as MessageShape<Desc>,
  };
}

const codecs = new WeakMap<DescMessage, unknown>();

// ---------------------------------------------------------------------------------------------------
// Compiling a descriptor

type Msg = Record<string, unknown>;
type Oneof = { case: string | undefined; value?: unknown };
interface UnknownField {
  no: number;
  wireType: number;
  data: Uint8Array;
}

/** How a field is read and written; one switch per message loop instead of protobuf-es's reflection. */
const SCALAR = 0; // implicit presence: zero values are not written
const OPTIONAL = 1; // explicit presence (proto3 `optional`): written unless undefined
const ONEOF_SCALAR = 2;
const MESSAGE = 3;
const ONEOF_MESSAGE = 4;
const LIST = 5;
const LIST_MESSAGE = 6;

interface FieldPlan {
  readonly mode: number;
  readonly name: string;
  /** The oneof group's property, "" outside a oneof. */
  readonly oneof: string;
  /** Enums are INT32 on the wire. */
  readonly type: ScalarType;
  readonly strictUtf8: boolean;
  readonly packed: boolean;
  /** The tag written before each value, or once before a packed list. */
  readonly tag: number;
  readonly tagSize: number;
  readonly child: Compiled | undefined;
}

interface Compiled {
  readonly typeName: string;
  /** A zero message as protobuf-es creates it: the same keys in the same order. */
  readonly create: () => Msg;
  /** Bytes fields still holding UNSET_BYTES after decoding get an empty array. */
  readonly bytesFields: readonly string[];
  /** Plans by tag (number << 3 | wire type); a packable list is under both of its wire types. */
  readonly byTag: ReadonlyArray<FieldPlan | undefined>;
  readonly numbers: ReadonlySet<number>;
  /** Plans in field number order, the order toBinary writes. */
  readonly fields: FieldPlan[];
}

const WIRE_VARINT = 0;
const WIRE_BIT64 = 1;
const WIRE_LEN = 2;
const WIRE_BIT32 = 5;
const EDITION_PROTO2 = 998;
const EDITION_PROTO3 = 999;
const IMPLICIT = 2;
const LEGACY_REQUIRED = 3;
/** protobuf-es's default `recursionLimit`. */
const RECURSION_LIMIT = 100;
/** Higher field numbers fall back, which keeps every tag table a small dense array. */
const MAX_FIELD_NUMBER = 2047;

const compiledTypes = new WeakMap<DescMessage, Compiled>();
const compilable = new WeakMap<DescMessage, boolean>();

/** True when every message type reachable from `desc` has only fields the compiler covers. */
function isCompilable(desc: DescMessage): boolean {
  let ok = compilable.get(desc);
  if (ok === undefined) {
    const seen = new Set([desc]);
    const queue = [desc];
    ok = protoInt64.supported; // without BigInt, protobuf-es represents 64-bit integers as strings
    for (let next = queue.pop(); next !== undefined && ok; next = queue.pop()) {
      ok = ownFieldsCompilable(next);
      for (const field of next.fields) {
        if (field.message !== undefined && !seen.has(field.message)) {
          seen.add(field.message);
          queue.push(field.message);
        }
      }
    }
    compilable.set(desc, ok);
  }
  return ok;
}

function ownFieldsCompilable(desc: DescMessage): boolean {
  const edition = desc.file.edition as number;
  // Messages with explicit-presence scalars outside proto3 keep their defaults on a prototype chain.
  const prototypeChain = (f: DescField) =>
    (f.presence as number) !== IMPLICIT && f.fieldKind !== "message" && f.oneof === undefined;
  if (edition === EDITION_PROTO2 || (edition !== EDITION_PROTO3 && desc.fields.some(prototypeChain))) {
    return false;
  }
  return desc.fields.every((field) => {
    if (field.number > MAX_FIELD_NUMBER || (field.presence as number) === LEGACY_REQUIRED) return false;
    switch (field.fieldKind) {
      case "scalar":
        return !field.longAsString && field.getDefaultValue() === undefined;
      case "enum":
        return field.enum.open && field.enum.values[0]?.number === 0 && field.getDefaultValue() === undefined;
      case "message":
        // Wrappers and Struct have a JSON-like representation in protobuf-es fields.
        return !field.delimitedEncoding && !field.message.typeName.startsWith("google.protobuf.");
      case "list":
        if (field.listKind === "scalar") return !field.longAsString;
        if (field.listKind === "enum") return field.enum.open && field.enum.values[0]?.number === 0;
        return !field.delimitedEncoding && !field.message.typeName.startsWith("google.protobuf.");
      default:
        return false; // maps
    }
  });
}

function compile(desc: DescMessage): Compiled {
  const cached = compiledTypes.get(desc);
  if (cached !== undefined) return cached;
  const maxNumber = Math.max(0, ...desc.fields.map((f) => f.number));
  // Filled up front: holes would leave the array holey, or in dictionary mode for high numbers.
  const byTag = Array.from<FieldPlan | undefined>({ length: (maxNumber + 1) << 3 });
  const compiled: Compiled = {
    typeName: desc.typeName,
    create: zeroMessageFactory(desc),
    bytesFields: desc.fields
      .filter((f) => f.fieldKind === "scalar" && f.scalar === ScalarType.BYTES && f.oneof === undefined)
      .filter((f) => (f.presence as number) === IMPLICIT)
      .map((f) => f.localName),
    byTag,
    numbers: new Set(desc.fields.map((f) => f.number)),
    fields: [],
  };
  // Registered before the fields are planned, so recursive types find themselves.
  compiledTypes.set(desc, compiled);
  for (const field of desc.fields.concat().sort((a, b) => a.number - b.number)) {
    const plan = fieldPlan(field);
    compiled.fields.push(plan);
    const valueWireType = plan.child === undefined ? wireTypeOf(plan.type) : WIRE_LEN;
    byTag[(field.number << 3) | valueWireType] = plan;
    // Parsers accept both encodings of a repeated number, whatever the field declares.
    if (plan.mode === LIST) byTag[(field.number << 3) | WIRE_LEN] = plan;
  }
  return compiled;
}

function fieldPlan(field: DescField): FieldPlan {
  let mode =
    field.oneof !== undefined ? ONEOF_SCALAR : (field.presence as number) === IMPLICIT ? SCALAR : OPTIONAL;
  let type = ScalarType.INT32;
  let child: Compiled | undefined;
  let packed = false;
  if (field.fieldKind === "scalar") {
    type = field.scalar;
  } else if (field.fieldKind === "message") {
    mode = field.oneof !== undefined ? ONEOF_MESSAGE : MESSAGE;
    child = compile(field.message);
  } else if (field.fieldKind === "list") {
    mode = field.listKind === "message" ? LIST_MESSAGE : LIST;
    if (field.listKind === "message") child = compile(field.message);
    if (field.listKind === "scalar") type = field.scalar;
    packed = field.packed;
  }
  const tag = tagOf(field.number, child !== undefined || packed ? WIRE_LEN : wireTypeOf(type));
  return {
    mode,
    name: field.localName,
    oneof: field.oneof?.localName ?? "",
    type,
    strictUtf8: field.utf8Validation,
    packed,
    tag,
    tagSize: varint32Size(tag),
    child,
  };
}

/**
 * Mirrors protobuf-es's createZeroMessage for messages without a prototype chain. Bytes fields start as
 * a shared placeholder that decoding replaces: `new Uint8Array(0)` costs more than decoding a field.
 */
function zeroMessageFactory(desc: DescMessage): () => Msg {
  const template: Msg = { $typeName: desc.typeName };
  const lists: string[] = [];
  const oneofs: string[] = [];
  for (const member of desc.members) {
    if (member.kind === "oneof") oneofs.push(member.localName);
    else if ((member.presence as number) !== IMPLICIT) continue;
    else if (member.fieldKind === "list") lists.push(member.localName);
    else if (member.fieldKind === "scalar") template[member.localName] = scalarZero(member.scalar);
    else if (member.fieldKind === "enum") template[member.localName] = 0;
    template[member.localName] ??= undefined;
  }
  // Object.assign, not spread: objects V8 clones by spread made every later field store several times
  // slower. Indexed loops, and none when there is nothing to add: this runs for every decoded message.
  if (lists.length === 0 && oneofs.length === 0) return () => Object.assign({}, template);
  return () => {
    const message = Object.assign({}, template);
    for (let i = 0; i < lists.length; i++) message[lists[i] as string] = [];
    for (let i = 0; i < oneofs.length; i++) message[oneofs[i] as string] = { case: undefined };
    return message;
  };
}

function scalarZero(type: ScalarType): unknown {
  switch (type) {
    case ScalarType.STRING:
      return "";
    case ScalarType.BOOL:
      return false;
    case ScalarType.BYTES:
      return UNSET_BYTES;
    case ScalarType.INT64:
    case ScalarType.UINT64:
    case ScalarType.SINT64:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return protoInt64.zero;
    default:
      return 0;
  }
}

function wireTypeOf(type: ScalarType): number {
  switch (type) {
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WIRE_LEN;
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WIRE_BIT64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WIRE_BIT32;
    default:
      return WIRE_VARINT;
  }
}

function tagOf(number: number, wireType: number): number {
  return ((number << 3) | wireType) >>> 0;
}

// ---------------------------------------------------------------------------------------------------
// Decoding: the same steps as protobuf-es's BinaryReader, without per-field lookups and allocations

interface Reader {
  readonly buf: Uint8Array;
  pos: number;
}

/** Placeholder for a bytes field not decoded (yet); never handed out. */
const UNSET_BYTES = new Uint8Array(0);
/** Empty bytes values are views of this: a view is cheap, a new ArrayBuffer is not. */
const NO_BYTES = new Uint8Array(0);
const textEncoding = getTextEncoding();
const scratch = new DataView(new ArrayBuffer(8));
/** Shorter ASCII strings are copied char by char, faster than TextDecoder / TextEncoder. */
const ASCII_LOOP_MAX = 32;
/** The two 32-bit halves of the last 64-bit varint read, or of the last 64-bit value to write. */
let lo = 0;
let hi = 0;

function decodeMessage(compiled: Compiled, bytes: Uint8Array): Msg {
  const message = compiled.create();
  readFields(compiled, { buf: bytes, pos: 0 }, message, bytes.length, 1);
  return message;
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
  fields.push({ no, wireType, data: r.buf.subarray(start, r.pos) });
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
      return BigInt(value);
    }
  }
  readVarint64(r);
  return join64(signed);
}

function join64(signed: boolean): bigint {
  if (hi >= 0 && hi <= 0x1fffff) return BigInt(hi * 0x100000000 + (lo >>> 0));
  scratch.setInt32(0, lo, true);
  scratch.setInt32(4, hi, true);
  return signed ? scratch.getBigInt64(0, true) : scratch.getBigUint64(0, true);
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

// ---------------------------------------------------------------------------------------------------
// Encoding: size everything first, then write into one array (protobuf-es forks and joins chunks)

interface Writer {
  buf: Uint8Array;
  pos: number;
  /** Lengths the sizing pass found (nested messages, packed lists, strings), in the order written. */
  readonly lengths: number[];
  next: number;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;
const FLOAT32_MAX = 3.4028234663852886e38;
const textEncoder = new TextEncoder();
/** What {@link present} returns for a field toBinary leaves out. */
const UNSET = Symbol("unset");

function encodeMessage(compiled: Compiled, message: Msg): Uint8Array {
  const w: Writer = { buf: NO_BYTES, pos: 0, lengths: [], next: 0 };
  const size = sizeFields(compiled, message, w);
  w.buf = new Uint8Array(size);
  writeFields(compiled, message, w);
  if (w.pos !== size) throw new Error(`wrote ${w.pos} bytes of ${size}`);
  return w.buf;
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
  const slot = w.lengths.push(0) - 1;
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
  const slot = w.lengths.push(0) - 1;
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
      w.lengths.push(len);
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
    const u = BigInt.asUintN(64, bits);
    lo = Number(u & 0xffffffffn) | 0;
    hi = Number(u >> 32n) | 0;
  }
}

function zigzag32(value: number): number {
  return ((value << 1) ^ (value >> 31)) >>> 0;
}

function varint32Size(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  return value < 0x10000000 ? 4 : 5;
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
