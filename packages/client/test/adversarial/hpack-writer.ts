// A tiny HPACK encoder (RFC 7541) for the test peer: every representation of §6 spelled out, so a
// scenario can build exactly the header block it needs, broken ones included. It keeps no table:
// a scenario that indexes entries knows what it put where (dynamic index 62 is the newest).

// Only the code lengths are shared with the client (reading, not calling): the codes below are
// rebuilt from them the canonical way RFC 7541 Appendix B was made, independently of the
// client's tree-walking decoder.
import { huffmanCodeLengths } from "@etcd-connect/transport";

/** A header list in order; repeated names stay separate fields. */
export type HeaderFields = ReadonlyArray<readonly [string, string]>;

/** HPACK prefixed integer (RFC 7541 §5.1); `flags` fills the bits above the prefix. */
export function hpackInteger(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.of(flags | value);
  const bytes = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

export interface StringOptions {
  /** Huffman-code the string (valid codes). */
  huffman?: boolean;
}

/** HPACK string literal (RFC 7541 §5.2): H bit, length, octets (latin1). */
export function hpackString(text: string, options: StringOptions = {}): Buffer {
  const octets = options.huffman ? huffmanEncode(text) : Buffer.from(text, "latin1");
  return Buffer.concat([hpackInteger(octets.length, 7, options.huffman ? 0x80 : 0), octets]);
}

/** A string literal whose H bit is set over arbitrary bytes: for invalid Huffman data. */
export function huffmanLiteral(bytes: Uint8Array): Buffer {
  return Buffer.concat([hpackInteger(bytes.length, 7, 0x80), bytes]);
}

/** Huffman-coded byte strings no decoder may accept (RFC 7541 §5.2). */
export const invalidHuffman = {
  /** 30 one-bits are EOS, which must never appear in a string; then 2 bits of padding. */
  eos: Buffer.of(0xff, 0xff, 0xff, 0xff),
  /** 'a' (00011) then padding 000: padding must be the most significant bits of EOS (ones). */
  zeroPadding: Buffer.of(0x18),
  /** 'a' then 11 one-bits: padding longer than 7 bits. */
  longPadding: Buffer.of(0x1f, 0xff),
} as const;

// Canonical Huffman codes: symbols sorted by (length, symbol) get consecutive codes.
const huffmanCodes: Array<{ code: number; bits: number }> = (() => {
  const order = huffmanCodeLengths
    .map((bits, symbol) => ({ symbol, bits }))
    .sort((a, b) => a.bits - b.bits || a.symbol - b.symbol);
  const codes = new Array<{ code: number; bits: number }>(257);
  let code = 0;
  let previous = 0;
  for (const { symbol, bits } of order) {
    code *= 2 ** (bits - previous);
    previous = bits;
    codes[symbol] = { code, bits };
    code++;
  }
  return codes;
})();

/** Huffman-encodes latin1 text, padded with one-bits (the prefix of EOS). */
export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let acc = 0;
  let accBits = 0;
  for (let i = 0; i < text.length; i++) {
    const { code, bits } = huffmanCodes[text.charCodeAt(i) & 0xff] as { code: number; bits: number };
    // Bit by bit: codes reach 30 bits, beyond what 32-bit shifts of an accumulator handle safely.
    for (let b = bits - 1; b >= 0; b--) {
      acc = (acc << 1) | (Math.floor(code / 2 ** b) & 1);
      if (++accBits === 8) {
        out.push(acc);
        acc = 0;
        accBits = 0;
      }
    }
  }
  if (accBits > 0) out.push(((acc << (8 - accBits)) | ((1 << (8 - accBits)) - 1)) & 0xff);
  return Buffer.from(out);
}

export type Indexing = "incremental" | "without" | "never";

const literalPrefix: Record<Indexing, { bits: number; flags: number }> = {
  incremental: { bits: 6, flags: 0x40 }, // §6.2.1: 01xxxxxx, the entry goes into the table
  without: { bits: 4, flags: 0x00 }, // §6.2.2: 0000xxxx
  never: { bits: 4, flags: 0x10 }, // §6.2.3: 0001xxxx
};

/**
 * Builds one header block representation by representation:
 * `new HpackWriter().indexed(8).literal("content-type", "application/grpc").build()`.
 */
export class HpackWriter {
  private readonly parts: Buffer[] = [];

  /** Indexed field (§6.1): 1xxxxxxx; static 1..61, dynamic from 62 (newest first). */
  indexed(index: number): this {
    this.parts.push(hpackInteger(index, 7, 0x80));
    return this;
  }

  /** The same indexed field `count` times, as one buffer (for header bombs). */
  repeatIndexed(index: number, count: number): this {
    const one = hpackInteger(index, 7, 0x80);
    this.parts.push(Buffer.alloc(one.length * count, one));
    return this;
  }

  /**
   * Literal field (§6.2): `name` as a string, or as an index (static or dynamic) whose name is
   * reused; `value` a string, or raw string-literal bytes (e.g. {@link huffmanLiteral}).
   */
  literal(
    name: string | number,
    value: string | Buffer,
    options: { indexing?: Indexing; huffman?: boolean } = {},
  ): this {
    const { bits, flags } = literalPrefix[options.indexing ?? "without"];
    const huffman = { huffman: options.huffman ?? false };
    if (typeof name === "number") this.parts.push(hpackInteger(name, bits, flags));
    else this.parts.push(hpackInteger(0, bits, flags), hpackString(name, huffman));
    this.parts.push(typeof value === "string" ? hpackString(value, huffman) : value);
    return this;
  }

  /** Dynamic table size update (§6.3): 001xxxxx. */
  sizeUpdate(size: number): this {
    this.parts.push(hpackInteger(size, 5, 0x20));
    return this;
  }

  /** Arbitrary bytes (truncated or overflowing integers and strings). */
  raw(bytes: Uint8Array): this {
    this.parts.push(Buffer.from(bytes));
    return this;
  }

  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** A block of plain literals without indexing, new names: what most scenarios need. */
export function headerBlock(fields: HeaderFields): Buffer {
  const writer = new HpackWriter();
  for (const [name, value] of fields) writer.literal(name, value);
  return writer.build();
}
