import { http2Code } from "./error-codes.js";
import { frameFlag } from "./frame.js";
import type { Http2Headers } from "./headers.js";
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
      readonly headers: Http2Headers;
    }
  /** A stream error: the block decoded past the header list limit; the table is in step. */
  | { readonly kind: "too_large"; readonly id: number; readonly detail: string }
  /** A connection error, with the HTTP/2 code to close it with. */
  | { readonly kind: "error"; readonly code: number; readonly detail: string };

const incomplete: HeaderBlockResult = { kind: "incomplete" };

/**
 * Assembles header blocks (a HEADERS frame and its CONTINUATION frames, RFC 9113 §4.3) and decodes
 * them with the connection's HPACK decoder, within bounds: the compressed block may not exceed
 * {@link maxHeaderBlockSize}, nor take more than {@link maxContinuationFrames} CONTINUATION frames
 * (empty ones count), nor decode past {@link maxHeaderListSize}.
 */
export class Http2HeaderBlock {
  private readonly decoder = new HpackDecoder();
  private id = 0;
  private endStream = false;
  private fragments: Buffer[] = [];
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
    this.fragments = [];
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
    this.fragments.push(fragment);
    if (!(flags & frameFlag.endHeaders)) return incomplete;
    const id = this.id;
    const fragments = this.fragments;
    this.id = 0;
    this.fragments = [];
    const block = fragments.length === 1 ? (fragments[0] as Buffer) : Buffer.concat(fragments, this.bytes);
    try {
      const headers = this.decoder.decode(block, maxHeaderListSize);
      return { kind: "headers", id, endStream: this.endStream, headers };
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
}
