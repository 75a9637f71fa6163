import { http2Code } from "./error-codes.js";
import { FieldSection } from "./field-section.js";
import { frameFlag } from "./frame.js";
import { HeaderListTooLargeError, HpackDecoder } from "./hpack.js";
import { maxContinuationFrames, maxHeaderBlockSize, maxHeaderListSize } from "./limits.js";

/** What a HEADERS or CONTINUATION frame completed; see {@link Http2HeaderBlock}. */
export type HeaderBlockResult =
  /** More CONTINUATION frames are due. */
  | { readonly kind: "incomplete" }
  | {
      readonly kind: "headers";
      readonly id: number;
      readonly endStream: boolean;
      readonly section: FieldSection;
    }
  /** A stream error: the block decoded past the header list limit; the table is in step. */
  | { readonly kind: "too_large"; readonly id: number; readonly detail: string }
  /** A connection error, with the HTTP/2 code to close it with. */
  | { readonly kind: "error"; readonly code: number; readonly detail: string };

const incomplete: HeaderBlockResult = { kind: "incomplete" };

/** Blocks up to this size are remembered (see {@link Http2HeaderBlock}). */
const memoBlockMax = 64;
/** How many remembered blocks: a response's headers and trailers, and a few error answers. */
const memoEntries = 4;

interface MemoEntry {
  readonly block: Buffer;
  /** The decoder's table generation the block was decoded against. */
  readonly generation: number;
  readonly section: FieldSection;
}

/**
 * Assembles header blocks (a HEADERS frame and its CONTINUATION frames, RFC 9113 §4.3) and decodes
 * them with the connection's HPACK decoder, within bounds: the compressed block may not exceed
 * {@link maxHeaderBlockSize}, nor take more than {@link maxContinuationFrames} CONTINUATION frames
 * (empty ones count), nor decode past {@link maxHeaderListSize}.
 *
 * A short block that left the dynamic table as it found it (only references to entries already
 * there) means the same fields for as long as the table stays unchanged: a few such blocks are
 * remembered with the table's generation, and the same bytes against the same generation give
 * the same section again, decoded and checked once. A server answering alike, as etcd does, has
 * its steady-state headers and trailers decoded once per connection.
 */
export class Http2HeaderBlock {
  private readonly decoder = new HpackDecoder();
  private id = 0;
  private endStream = false;
  // The HEADERS frame's fragment, and those of its CONTINUATION frames when there are any (rare:
  // no array is made for the common single-frame block).
  private first: Buffer | undefined = undefined;
  private rest: Buffer[] | undefined = undefined;
  private readonly memo: MemoEntry[] = [];
  private memoNext = 0;
  private bytes = 0;
  private continuations = 0;

  /** The stream whose block is being assembled, 0 when none: only its CONTINUATION may follow. */
  get streamId(): number {
    return this.id;
  }

  /** A HEADERS frame's block fragment (padding and priority already removed). */
  begin(id: number, flags: number, fragment: Buffer): HeaderBlockResult {
    this.id = id;
    this.endStream = (flags & frameFlag.endStream) !== 0;
    this.first = undefined;
    this.rest = undefined;
    this.bytes = 0;
    this.continuations = 0;
    return this.add(fragment, flags);
  }

  /** A CONTINUATION frame of the block in progress. */
  continue(flags: number, fragment: Buffer): HeaderBlockResult {
    if (++this.continuations > maxContinuationFrames) {
      return {
        kind: "error",
        code: http2Code.enhanceYourCalm,
        detail: `a header block in over ${maxContinuationFrames} CONTINUATION frames`,
      };
    }
    return this.add(fragment, flags);
  }

  private add(fragment: Buffer, flags: number): HeaderBlockResult {
    this.bytes += fragment.length;
    if (this.bytes > maxHeaderBlockSize) {
      return {
        kind: "error",
        code: http2Code.enhanceYourCalm,
        detail: `a header block of over ${maxHeaderBlockSize} bytes`,
      };
    }
    if (this.first === undefined) this.first = fragment;
    else if (this.rest === undefined) this.rest = [fragment];
    else this.rest.push(fragment);
    if (!(flags & frameFlag.endHeaders)) return incomplete;
    const id = this.id;
    const block =
      this.rest === undefined ? this.first : Buffer.concat([this.first, ...this.rest], this.bytes);
    this.id = 0;
    this.first = undefined;
    this.rest = undefined;
    const remembered = this.remembered(block);
    if (remembered !== undefined)
      return { kind: "headers", id, endStream: this.endStream, section: remembered };
    const generation = this.decoder.generation;
    try {
      const decoded = this.decoder.decodeBlock(block, maxHeaderListSize);
      const section = new FieldSection(decoded.fields, decoded.pseudoAfterRegular);
      if (block.length <= memoBlockMax && this.decoder.generation === generation) {
        this.memo[this.memoNext] = { block: Buffer.from(block), generation, section };
        this.memoNext = (this.memoNext + 1) % memoEntries;
      }
      return { kind: "headers", id, endStream: this.endStream, section };
    } catch (error) {
      // grpc-go fails only the stream for a list over its limit; the table is still in step.
      if (error instanceof HeaderListTooLargeError) return { kind: "too_large", id, detail: error.message };
      return {
        kind: "error",
        code: http2Code.compressionError,
        detail: error instanceof Error ? error.message : String(error),
      };
    }
  }

  // The section of a block seen before against the table as it is now, if any.
  private remembered(block: Buffer): FieldSection | undefined {
    if (block.length > memoBlockMax) return undefined;
    const generation = this.decoder.generation;
    for (let i = 0; i < this.memo.length; i++) {
      const entry = this.memo[i] as MemoEntry;
      if (entry.generation === generation && sameBytes(entry.block, block)) return entry.section;
    }
    return undefined;
  }
}

// Blocks here are a few bytes: a loop beats a call into C++.
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
