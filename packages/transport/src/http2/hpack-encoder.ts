// HPACK (RFC 7541) encoding of our request header blocks: a stateless encoder for one-off blocks,
// and the per-connection encoder that sends the fields every call repeats once, as table entries.
import { staticCount, staticFieldIndex, staticNameIndex } from "./hpack.js";

/** The peer's table size until its SETTINGS say otherwise (RFC 9113 §6.5.2). */
const defaultTableSize = 4096;
/** RFC 7541 §4.1: an entry's size is its name and value in octets plus 32. */
const entryOverhead = 32;
/** A field's representation at most: two length prefixes of 6 octets each, plus its first octet. */
const fieldOverhead = 13;
/** Two dynamic table size updates of at most 6 octets each. */
const updatesOverhead = 12;

// Reused output, grown on demand: an encode allocates only the block it returns.
let scratch = Buffer.allocUnsafe(1024);

function scratchFor(bytes: number): Buffer {
  if (scratch.length < bytes) scratch = Buffer.allocUnsafe(Math.max(bytes, scratch.length * 2));
  return scratch;
}

function fieldsBytes(fields: ReadonlyArray<readonly [string, string]>): number {
  let bytes = 0;
  for (let i = 0; i < fields.length; i++) {
    const [name, value] = fields[i] as readonly [string, string];
    bytes += name.length + value.length + fieldOverhead;
  }
  return bytes;
}

function writeInteger(out: Buffer, pos: number, value: number, prefixBits: number, flags: number): number {
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    out[pos] = flags | value;
    return pos + 1;
  }
  out[pos++] = flags | mask;
  let rest = value - mask;
  while (rest >= 128) {
    out[pos++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  out[pos] = rest;
  return pos + 1;
}

// Strings go raw (no Huffman): our fields are short, and raw costs the peer nothing to read.
function writeString(out: Buffer, pos: number, text: string): number {
  const start = writeInteger(out, pos, text.length, 7, 0);
  return start + out.write(text, start, "latin1");
}

// A literal field (RFC 7541 §6.2): `prefixBits` and `flags` pick "with incremental indexing" (6,
// 0x40) or "without indexing" (4, 0); the name by its static index when it has one.
function writeLiteral(
  out: Buffer,
  pos: number,
  name: string,
  value: string,
  prefixBits: number,
  flags: number,
): number {
  const nameIndex = staticNameIndex(name);
  if (nameIndex === 0) {
    out[pos++] = flags;
    pos = writeString(out, pos, name);
  } else {
    pos = writeInteger(out, pos, nameIndex, prefixBits, flags);
  }
  return writeString(out, pos, value);
}

// A field sent the same way whatever the table holds: its static index, or a literal without
// indexing.
function writeStateless(out: Buffer, pos: number, name: string, value: string): number {
  const full = staticFieldIndex(name, value);
  if (full !== 0) return writeInteger(out, pos, full, 7, 0x80);
  return writeLiteral(out, pos, name, value, 4, 0);
}

function blockOf(out: Buffer, length: number): Buffer {
  const block = Buffer.allocUnsafe(length);
  out.copy(block, 0, 0, length);
  return block;
}

/**
 * Encodes header fields as one HPACK block without touching the dynamic table: a static entry matching
 * name and value is sent as its index, anything else as "literal without indexing" (with the static name
 * index when there is one), strings raw. Names must already be lowercase; strings are written as latin1.
 */
export function encodeHeaderBlock(headers: Iterable<readonly [string, string]>): Buffer {
  const fields = Array.isArray(headers)
    ? (headers as ReadonlyArray<readonly [string, string]>)
    : [...headers];
  const out = scratchFor(fieldsBytes(fields));
  let pos = 0;
  for (let i = 0; i < fields.length; i++) {
    const [name, value] = fields[i] as readonly [string, string];
    pos = writeStateless(out, pos, name, value);
  }
  return blockOf(out, pos);
}

/**
 * The HPACK encoder of one connection's requests. Fields a request repeats call after call (the
 * path, authority, content type, user agent) go into the peer's dynamic table the first time and
 * as a one-octet index after that, as grpc-go and nghttp2 send them; etcd then decodes a call's
 * headers without building a string. Other fields (a deadline, a token) go after its block as
 * literals without indexing ({@link encodeHeaderBlock}), so they never churn the table.
 *
 * The encoder never evicts: an entry goes in only while the table has room for it, so an entry
 * once in keeps its place and a field's index moves only when a newer entry goes in (see
 * {@link generation}). A connection calling more methods than fit sends the rest as literals.
 *
 * Blocks must reach the peer in the order they were encoded: encode a request's block when its
 * HEADERS frame is written, not before.
 */
export class HpackEncoder {
  // Each entry's insertion ordinal, by name and value; the newest entry has HPACK index 62.
  private readonly ordinals = new Map<string, number>();
  private inserted = 0;
  private size = 0;
  private capacity = defaultTableSize;
  private resetDue = false;
  private changes = 0;

  /**
   * Counts the changes to the peer's table that our blocks made or will make: a block encoded
   * without changing it is valid, byte for byte, for as long as this number stays the same.
   */
  get generation(): number {
    return this.changes;
  }

  /** Size of the peer's dynamic table as we filled it, in RFC 7541 octets. */
  get tableSize(): number {
    return this.size;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE, applied once our ACK of it is written. A smaller table
   * than ours is emptied and resized at the start of the next block (RFC 7541 §4.2); a larger one
   * changes nothing: an encoder may use less than the peer allows.
   */
  setPeerTableSize(limit: number): void {
    if (limit >= this.capacity) return;
    this.capacity = limit;
    this.ordinals.clear();
    this.inserted = 0;
    this.size = 0;
    this.resetDue = true;
    this.changes++;
  }

  /**
   * A block of fields that repeat call after call: each from the table, put in it when it is not
   * yet and fits. Fields that vary go after it, encoded by {@link encodeHeaderBlock}.
   */
  encode(fields: ReadonlyArray<readonly [string, string]>): Buffer {
    const out = scratchFor(updatesOverhead + fieldsBytes(fields));
    let pos = 0;
    if (this.resetDue) {
      // Emptied first, then sized: the peer's entries go whatever their size.
      pos = writeInteger(out, pos, 0, 5, 0x20);
      if (this.capacity > 0) pos = writeInteger(out, pos, this.capacity, 5, 0x20);
      this.resetDue = false;
      // This block empties the table: sent twice, it would empty what came in between.
      this.changes++;
    }
    for (let i = 0; i < fields.length; i++) {
      const [name, value] = fields[i] as readonly [string, string];
      const full = staticFieldIndex(name, value);
      if (full !== 0) {
        pos = writeInteger(out, pos, full, 7, 0x80);
        continue;
      }
      const key = `${name}\n${value}`;
      const ordinal = this.ordinals.get(key);
      if (ordinal !== undefined) {
        pos = writeInteger(out, pos, staticCount + this.inserted - ordinal, 7, 0x80);
        continue;
      }
      const entrySize = name.length + value.length + entryOverhead;
      if (this.size + entrySize > this.capacity) {
        pos = writeLiteral(out, pos, name, value, 4, 0);
        continue;
      }
      pos = writeLiteral(out, pos, name, value, 6, 0x40);
      this.ordinals.set(key, this.inserted++);
      this.size += entrySize;
      this.changes++;
    }
    return blockOf(out, pos);
  }
}
