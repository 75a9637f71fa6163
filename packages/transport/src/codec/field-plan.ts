// What the compiler in message-codec.ts produces and the decoder and encoder follow: a plan per field
// of a message type, and the wire-format basics the three share.
import { ScalarType } from "@bufbuild/protobuf";

export type Msg = Record<string, unknown>;
export type Oneof = { case: string | undefined; value?: unknown };
export interface UnknownField {
  no: number;
  wireType: number;
  data: Uint8Array;
}

/** How a field is read and written; one switch per message loop instead of protobuf-es's reflection. */
export const SCALAR = 0; // implicit presence: zero values are not written
export const OPTIONAL = 1; // explicit presence (proto3 `optional`): written unless undefined
export const ONEOF_SCALAR = 2;
export const MESSAGE = 3;
export const ONEOF_MESSAGE = 4;
export const LIST = 5;
export const LIST_MESSAGE = 6;

export interface FieldPlan {
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

export interface Compiled {
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

export const WIRE_VARINT = 0;
export const WIRE_BIT64 = 1;
export const WIRE_LEN = 2;
export const WIRE_BIT32 = 5;

/** Placeholder for a bytes field not decoded (yet); never handed out. */
export const UNSET_BYTES = new Uint8Array(0);
/** Empty bytes values are views of this: a view is cheap, a new ArrayBuffer is not. */
export const NO_BYTES = new Uint8Array(0);
/** Shorter ASCII strings are copied char by char, faster than TextDecoder / TextEncoder. */
export const ASCII_LOOP_MAX = 32;

export function wireTypeOf(type: ScalarType): number {
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

export function tagOf(number: number, wireType: number): number {
  return ((number << 3) | wireType) >>> 0;
}

export function varint32Size(value: number): number {
  if (value < 0x80) return 1;
  if (value < 0x4000) return 2;
  if (value < 0x200000) return 3;
  return value < 0x10000000 ? 4 : 5;
}
