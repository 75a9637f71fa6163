// HPACK (RFC 7541) for our HTTP/2 client: the static table, Huffman decoding, and the stateful decoder
// of response headers and trailers. Requests are encoded in hpack-encoder.ts.

/** The RFC 7541 Appendix A static table; entry `i` here is HPACK index `i + 1`. */
export const staticTable: ReadonlyArray<readonly [name: string, value: string]> = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

/**
 * Bit lengths of the RFC 7541 Appendix B Huffman code for symbols 0..255 and EOS (256). The code is
 * canonical, so the lengths alone determine every code.
 */
export const huffmanCodeLengths: readonly number[] = [
  // 0..31: control characters
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28,
  // 32..127: ' ' to DEL
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6, 15, 5,
  6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  // 128..255
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22,
  23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22,
  23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19,
  21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25,
  24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  // EOS
  30,
];

// Huffman decoding walks the code tree a nibble at a time: one table entry per (tree node, nibble) gives
// the node reached, the symbol completed on the way (codes are >= 5 bits, so at most one) and whether
// EOS was hit. Internal nodes are numbered 0..255 (a full binary tree with 257 leaves), root 0.
const huffEmit = 1 << 16;
const huffFail = 1 << 17;
const huffTable = new Uint32Array(256 * 16);
// Nodes where a string may end: reached from the root by at most 7 one-bits, the only valid padding.
const huffAccept = new Uint8Array(256);

function buildHuffmanTables(): void {
  // Children: >= 0 is an internal node, < 0 a leaf holding ~symbol; 0 means unset (the root is no child).
  const left = new Int16Array(256);
  const right = new Int16Array(256);
  let nodes = 1;
  let code = 0;
  let previousLength = 0;
  for (let length = 1; length <= 30; length++) {
    for (let symbol = 0; symbol <= 256; symbol++) {
      if (huffmanCodeLengths[symbol] !== length) continue;
      code <<= length - previousLength;
      previousLength = length;
      let node = 0;
      for (let bit = length - 1; bit > 0; bit--) {
        const children = (code >>> bit) & 1 ? right : left;
        let child = children[node] as number;
        if (child < 0) throw new Error("hpack: Huffman code lengths are not prefix-free");
        if (child === 0) {
          if (nodes === 256) throw new Error("hpack: Huffman code lengths are not a complete code");
          child = nodes++;
          children[node] = child;
        }
        node = child;
      }
      const children = code & 1 ? right : left;
      if (children[node] !== 0) throw new Error("hpack: Huffman code lengths are not prefix-free");
      children[node] = ~symbol;
      code++;
    }
  }
  if (nodes !== 256 || code !== 2 ** previousLength) {
    throw new Error("hpack: Huffman code lengths are not a complete code");
  }
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let entry = 0;
      for (let bit = 3; bit >= 0; bit--) {
        const child = ((nibble >> bit) & 1 ? right[node] : left[node]) as number;
        if (child >= 0) {
          node = child;
        } else if (~child === 256) {
          entry |= huffFail;
          node = 0;
        } else {
          entry |= huffEmit | (~child << 8);
          node = 0;
        }
      }
      huffTable[(state << 4) | nibble] = entry | node;
    }
  }
  huffAccept[0] = 1;
  for (let node = 0, depth = 1; depth <= 7; depth++) {
    node = right[node] as number;
    huffAccept[node] = 1;
  }
}
buildHuffmanTables();

// Reused output for Huffman decoding, grown on demand, so a call allocates only its result.
let huffOut = Buffer.allocUnsafe(1024);

function huffmanDecodeRange(src: Uint8Array, start: number, end: number): string {
  // Each symbol takes at least 5 bits.
  const maxLength = Math.ceil(((end - start) * 8) / 5);
  if (huffOut.length < maxLength) huffOut = Buffer.allocUnsafe(Math.max(maxLength, huffOut.length * 2));
  const out = huffOut;
  let state = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    const byte = src[i] as number;
    let entry = huffTable[(state << 4) | (byte >> 4)] as number;
    if (entry & huffFail) throw new Error("hpack: EOS in Huffman-coded string");
    if (entry & huffEmit) out[length++] = entry >> 8;
    state = entry & 0xff;
    entry = huffTable[(state << 4) | (byte & 0x0f)] as number;
    if (entry & huffFail) throw new Error("hpack: EOS in Huffman-coded string");
    if (entry & huffEmit) out[length++] = entry >> 8;
    state = entry & 0xff;
  }
  if (huffAccept[state] === 0) throw new Error("hpack: invalid Huffman padding");
  return out.toString("latin1", 0, length);
}

/** Decodes a Huffman-coded HPACK string (RFC 7541 §5.2) to a latin1 string. */
export function huffmanDecode(bytes: Uint8Array): string {
  return huffmanDecodeRange(bytes, 0, bytes.length);
}

const staticNames = staticTable.map(([name]) => name);
const staticValues = staticTable.map(([, value]) => value);
/** Entries in the static table: the dynamic table's newest entry has index `staticCount + 1`. */
export const staticCount = staticTable.length;
// First static index (1-based) of each name; entries sharing a name are adjacent.
const firstIndexOfName = new Map<string, number>();
staticNames.forEach((name, i) => {
  if (!firstIndexOfName.has(name)) firstIndexOfName.set(name, i + 1);
});

/** The static index (1-based) of the first entry named `name`, 0 when there is none. */
export function staticNameIndex(name: string): number {
  return firstIndexOfName.get(name) ?? 0;
}

/** The static index (1-based) of the entry with this name and value, 0 when there is none. */
export function staticFieldIndex(name: string, value: string): number {
  const first = firstIndexOfName.get(name);
  if (first === undefined) return 0;
  for (let i = first; i <= staticCount && staticNames[i - 1] === name; i++) {
    if (staticValues[i - 1] === value) return i;
  }
  return 0;
}

const emptyBlock = Buffer.alloc(0);

// Beyond 2^31 no length or index can be real: a block is far smaller.
const maxInteger = 0x7fffffff;

/**
 * A header block decoded to more than the allowed header list size (see {@link HpackDecoder.decode}).
 * Unlike other decoding errors it leaves the decoder in step with the peer.
 */
export class HeaderListTooLargeError extends Error {
  override name = "HeaderListTooLargeError";
  readonly size: number;
  readonly limit: number;

  constructor(size: number, limit: number) {
    super(`a header list of at least ${size} octets, over the ${limit} allowed`);
    this.size = size;
    this.limit = limit;
  }
}

/** A decoded header block: its fields, and whether a pseudo-header came after a regular field. */
export interface DecodedBlock {
  /** Null-prototype object; repeated names have their values joined with ", ". */
  readonly fields: Record<string, string>;
  /**
   * Pseudo-headers must open a field section (RFC 9113 §8.3). Only the decoder sees the order the
   * fields arrived in: an object lists integer-like names ("123") before all others.
   */
  readonly pseudoAfterRegular: boolean;
}

/**
 * Decodes HPACK header blocks of one HTTP/2 connection, keeping the dynamic table across blocks, so
 * every block of the connection must pass through the same decoder, in the order received.
 */
export class HpackDecoder {
  /** Our SETTINGS_HEADER_TABLE_SIZE: the peer may not make its table larger. */
  readonly maxTableSize: number;
  // The dynamic table as a ring: the newest entry at `newest`, older ones below it (wrapping).
  private names: string[] = new Array<string>(16).fill("");
  private values: string[] = new Array<string>(16).fill("");
  private newest = -1;
  private count = 0;
  private size = 0;
  private capacity: number;
  private block: Buffer = emptyBlock;
  private pos = 0;
  private changes = 0;

  constructor(maxTableSize = 4096) {
    if (!Number.isInteger(maxTableSize) || maxTableSize < 0 || maxTableSize > maxInteger) {
      throw new RangeError(`hpack: invalid max table size ${maxTableSize}`);
    }
    this.maxTableSize = maxTableSize;
    this.capacity = maxTableSize;
  }

  /** Size of the dynamic table in RFC 7541 octets (name + value + 32 per entry). */
  get tableSize(): number {
    return this.size;
  }

  /**
   * Counts the changes to the dynamic table (insertions, size updates): a block decoded twice
   * against the same generation means the same fields.
   */
  get generation(): number {
    return this.changes;
  }

  /** Number of entries in the dynamic table. */
  get tableLength(): number {
    return this.count;
  }

  /**
   * Decodes one complete header block (HEADERS plus CONTINUATION fragments) to an object with a null
   * prototype (so a `__proto__` header is just a key); repeated names have their values joined with ", ".
   * Throws an `Error` whose message starts with "hpack: " on malformed input; the connection must then
   * be closed with COMPRESSION_ERROR, as the table may be out of step with the peer's.
   *
   * The decoded header list (RFC 9113 §6.5.2: name + value + 32 octets per field) may not exceed
   * `maxListSize`: the size of each field is counted before its strings are built or joined, and past
   * the limit fields are only skipped, so a block of references to one large table entry costs time
   * linear in the block, not in what it would expand to. The whole block is still parsed, keeping the
   * table in step, and then {@link HeaderListTooLargeError} is thrown: the stream fails, the connection
   * stays usable.
   */
  decode(block: Uint8Array, maxListSize = Number.POSITIVE_INFINITY): Record<string, string> {
    return this.decodeBlock(block, maxListSize).fields;
  }

  /** {@link decode}, with the order of pseudo-headers and regular fields as it arrived. */
  decodeBlock(block: Uint8Array, maxListSize = Number.POSITIVE_INFINITY): DecodedBlock {
    this.block = Buffer.isBuffer(block)
      ? block
      : Buffer.from(block.buffer, block.byteOffset, block.byteLength);
    this.pos = 0;
    const headers: Record<string, string> = Object.create(null);
    const end = block.length;
    let sawField = false;
    let sawRegular = false;
    let pseudoAfterRegular = false;
    let listSize = 0;
    try {
      while (this.pos < end) {
        const first = block[this.pos] as number;
        const over = listSize > maxListSize;
        let name: string;
        let value: string;
        if (first & 0x80) {
          const index = this.readInteger(7);
          this.checkIndex(index);
          name = this.nameAt(index);
          value = this.valueAt(index);
        } else if (first & 0x40) {
          name = this.readName(6);
          value = this.readString();
          this.insert(name, value);
        } else if (first & 0x20) {
          // RFC 7541 §4.2: size updates only open a block.
          if (sawField) throw new Error("hpack: dynamic table size update after a header field");
          const size = this.readInteger(5);
          if (size > this.maxTableSize) {
            throw new Error(
              `hpack: dynamic table size update ${size} above the maximum ${this.maxTableSize}`,
            );
          }
          this.capacity = size;
          this.changes++;
          this.evictTo(size);
          continue;
        } else if (over) {
          // Past the limit a field that does not touch the table is skipped undecoded.
          this.skipName(4);
          this.skipString();
          sawField = true;
          continue;
        } else {
          // Without indexing (0000) and never indexed (0001) only differ for intermediaries.
          name = this.readName(4);
          value = this.readString();
        }
        sawField = true;
        listSize += name.length + value.length + 32;
        if (listSize > maxListSize) continue;
        if (name.charCodeAt(0) !== 58 /* ':' */) sawRegular = true;
        else if (sawRegular) pseudoAfterRegular = true;
        const previous = headers[name];
        headers[name] = previous === undefined ? value : `${previous}, ${value}`;
      }
    } finally {
      this.block = emptyBlock;
    }
    if (listSize > maxListSize) throw new HeaderListTooLargeError(listSize, maxListSize);
    return { fields: headers, pseudoAfterRegular };
  }

  private readInteger(prefixBits: number): number {
    const block = this.block;
    const mask = (1 << prefixBits) - 1;
    let value = (block[this.pos++] as number) & mask;
    if (value < mask) return value;
    let multiplier = 1;
    for (;;) {
      if (this.pos >= block.length) throw new Error("hpack: truncated integer");
      const byte = block[this.pos++] as number;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) break;
      multiplier *= 128;
      if (multiplier > 2 ** 28) throw new Error("hpack: integer overflow");
    }
    if (value > maxInteger) throw new Error("hpack: integer overflow");
    return value;
  }

  private readName(prefixBits: number): string {
    const index = this.readInteger(prefixBits);
    if (index === 0) return this.readString();
    this.checkIndex(index);
    return this.nameAt(index);
  }

  private readString(): string {
    const block = this.block;
    if (this.pos >= block.length) throw new Error("hpack: truncated block");
    const huffman = (block[this.pos] as number) & 0x80;
    const length = this.readInteger(7);
    const start = this.pos;
    const end = start + length;
    if (end > block.length) throw new Error("hpack: truncated string");
    this.pos = end;
    return huffman ? huffmanDecodeRange(block, start, end) : block.toString("latin1", start, end);
  }

  private skipName(prefixBits: number): void {
    const index = this.readInteger(prefixBits);
    if (index === 0) this.skipString();
    else this.checkIndex(index);
  }

  private skipString(): void {
    if (this.pos >= this.block.length) throw new Error("hpack: truncated block");
    const length = this.readInteger(7);
    if (this.pos + length > this.block.length) throw new Error("hpack: truncated string");
    this.pos += length;
  }

  private checkIndex(index: number): void {
    if (index === 0) throw new Error("hpack: index 0");
    if (index > staticCount + this.count) {
      throw new Error(`hpack: index ${index} beyond the table (${staticCount + this.count} entries)`);
    }
  }

  private slotOf(index: number): number {
    const slot = this.newest - (index - staticCount - 1);
    return slot < 0 ? slot + this.names.length : slot;
  }

  private nameAt(index: number): string {
    if (index <= staticCount) return staticNames[index - 1] as string;
    return this.names[this.slotOf(index)] as string;
  }

  private valueAt(index: number): string {
    if (index <= staticCount) return staticValues[index - 1] as string;
    return this.values[this.slotOf(index)] as string;
  }

  private insert(name: string, value: string): void {
    this.changes++;
    // Strings are latin1, so their length is their size in octets.
    const entrySize = name.length + value.length + 32;
    // RFC 7541 §4.4: an entry larger than the table empties it and is not added.
    this.evictTo(Math.max(0, this.capacity - entrySize));
    if (entrySize > this.capacity) return;
    if (this.count === this.names.length) this.grow();
    this.newest = this.newest + 1 === this.names.length ? 0 : this.newest + 1;
    this.names[this.newest] = name;
    this.values[this.newest] = value;
    this.count++;
    this.size += entrySize;
  }

  // The ring starts small and doubles when full, rather than sizing for the worst case of the maximum
  // table size, which a peer rarely fills.
  private grow(): void {
    const slots = this.names.length;
    const names = new Array<string>(slots * 2).fill("");
    const values = new Array<string>(slots * 2).fill("");
    // Oldest first, so the newest lands at count - 1.
    for (let i = 0; i < this.count; i++) {
      const slot = (this.newest - this.count + 1 + i + slots) % slots;
      names[i] = this.names[slot] as string;
      values[i] = this.values[slot] as string;
    }
    this.names = names;
    this.values = values;
    this.newest = this.count - 1;
  }

  private evictTo(size: number): void {
    const slots = this.names.length;
    while (this.size > size) {
      let oldest = this.newest - this.count + 1;
      if (oldest < 0) oldest += slots;
      this.size -= (this.names[oldest] as string).length + (this.values[oldest] as string).length + 32;
      // Drop references so evicted strings can be collected.
      this.names[oldest] = "";
      this.values[oldest] = "";
      this.count--;
    }
  }
}
