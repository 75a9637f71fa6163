// Header blocks: CONTINUATION sequencing (RFC 9113 §6.10, §4.3) and HPACK decoding (RFC 7541
// §5-§6). A decoding error leaves the HPACK table out of step with the server's, so every one
// of them is a connection error (COMPRESSION_ERROR), whatever stream carried the block.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { continuation, data, headerFrames, headers, ping } from "./frames.js";
import { envelope, okHeaders, rangeResponse } from "./grpc.js";
import { HpackWriter, huffmanLiteral, invalidHuffman } from "./hpack-writer.js";
import type { PeerStream } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const connectionError: Expectation = { scope: "connection", code: Code.Unavailable };

/** The rest of a correct answer after the response headers: one message, OK trailers. */
function finish(s: PeerStream): void {
  s.sendMessage(rangeResponse());
  s.trail();
}

/** Response headers whose block is `:status 200`, content-type, then `bad` representations. */
function badBlock(bad: (w: HpackWriter) => HpackWriter) {
  return (s: PeerStream) => {
    const block = bad(new HpackWriter().indexed(8).literal(31, "application/grpc")).build();
    s.send(headers(s.id, block));
    finish(s);
  };
}

describe("CONTINUATION (§6.10)", () => {
  it("CONTINUATION without a preceding HEADERS closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: (s) => {
        s.send(continuation(s.id, new HpackWriter().indexed(8).build(), { endHeaders: true }));
        s.respond();
        finish(s);
      },
      expect: connectionError,
    });
  });

  it("CONTINUATION on another stream than its HEADERS closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: (s) => {
        s.send(
          headers(s.id, new HpackWriter().indexed(8).build(), { endHeaders: false }),
          continuation(s.id + 2, new HpackWriter().literal(31, "application/grpc").build(), {
            endHeaders: true,
          }),
        );
        finish(s);
      },
      expect: connectionError,
    });
  });

  it("a frame between HEADERS and its CONTINUATION closes the connection", limits, async (t) => {
    // §6.10: a header block is contiguous; even a PING may not interrupt it.
    await runScenario(t, {
      onStream: (s) => {
        s.send(
          headers(s.id, new HpackWriter().indexed(8).build(), { endHeaders: false }),
          ping(),
          continuation(s.id, new HpackWriter().literal(31, "application/grpc").build(), { endHeaders: true }),
        );
        finish(s);
      },
      expect: connectionError,
    });
  });

  it("a header block in HEADERS plus 3 CONTINUATION frames is decoded", limits, async (t) => {
    // Within nghttp2's bound of 8 CONTINUATION frames per block.
    await runScenario(t, {
      onStream: (s) => {
        const block = new HpackWriter()
          .indexed(8)
          .literal(31, "application/grpc")
          .literal("x-a", "b")
          .build();
        s.send(...headerFrames(s.id, block, { chunk: Math.ceil(block.length / 4) }));
        finish(s);
      },
      expect: { scope: "healthy" },
    });
  });

  it("a compressed header block over 64 KiB closes the connection", limits, async (t) => {
    // 5 frames (under the CONTINUATION bound), 70,000 bytes: the block size bound must hold.
    await runScenario(t, {
      onStream: (s) => {
        const block = new HpackWriter()
          .indexed(8)
          .literal(31, "application/grpc")
          .literal("x-big", "a".repeat(70_000))
          .build();
        s.send(...headerFrames(s.id, block));
        finish(s);
      },
      expect: connectionError,
    });
  });
});

describe("HPACK decoding errors (RFC 7541 §5-§6; COMPRESSION_ERROR, RFC 9113 §4.3)", () => {
  it("an indexed field with index 0 closes the connection", limits, async (t) => {
    // §6.1: "The index value of 0 is not used. It MUST be treated as a decoding error."
    await runScenario(t, { onStream: badBlock((w) => w.indexed(0)), expect: connectionError });
  });

  it("an index beyond the static and dynamic tables closes the connection", limits, async (t) => {
    // §2.3.3: 70 > 61 static entries + 0 dynamic ones.
    await runScenario(t, { onStream: badBlock((w) => w.indexed(70)), expect: connectionError });
  });

  it("a literal whose name index is beyond the tables closes the connection", limits, async (t) => {
    await runScenario(t, { onStream: badBlock((w) => w.literal(70, "v")), expect: connectionError });
  });

  it("a dynamic table size update above our 4,096 closes the connection", limits, async (t) => {
    // §6.3: above SETTINGS_HEADER_TABLE_SIZE (we keep the default) is a decoding error.
    await runScenario(t, {
      onStream: (s) => {
        s.send(
          headers(
            s.id,
            new HpackWriter().sizeUpdate(4097).indexed(8).literal(31, "application/grpc").build(),
          ),
        );
        finish(s);
      },
      expect: connectionError,
    });
  });

  it("a dynamic table size update after a field closes the connection", limits, async (t) => {
    // §4.2: a size update comes at the beginning of a block.
    await runScenario(t, { onStream: badBlock((w) => w.sizeUpdate(0)), expect: connectionError });
  });

  it("a Huffman string containing EOS closes the connection", limits, async (t) => {
    // §5.2: "A Huffman-encoded string literal containing the EOS symbol MUST be treated as a decoding error."
    await runScenario(t, {
      onStream: badBlock((w) => w.literal("x-h", huffmanLiteral(invalidHuffman.eos))),
      expect: connectionError,
    });
  });

  it("Huffman padding that is not EOS's one-bits closes the connection", limits, async (t) => {
    // §5.2: padding not corresponding to the most significant bits of EOS is a decoding error.
    await runScenario(t, {
      onStream: badBlock((w) => w.literal("x-h", huffmanLiteral(invalidHuffman.zeroPadding))),
      expect: connectionError,
    });
  });

  it("Huffman padding longer than 7 bits closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: badBlock((w) => w.literal("x-h", huffmanLiteral(invalidHuffman.longPadding))),
      expect: connectionError,
    });
  });

  it("an integer that overflows closes the connection", limits, async (t) => {
    // §5.1: implementations must handle overflow; a 2^35 index can only be an attack.
    await runScenario(t, {
      onStream: badBlock((w) => w.raw(Buffer.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f))),
      expect: connectionError,
    });
  });

  it("an integer cut off by the end of the block closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: badBlock((w) => w.raw(Buffer.of(0xff, 0x80))),
      expect: connectionError,
    });
  });

  it("a string longer than what is left of the block closes the connection", limits, async (t) => {
    // Literal, new name "x", value announced as 10 bytes, 3 present.
    await runScenario(t, {
      onStream: badBlock((w) => w.raw(Buffer.of(0x00, 0x01, 0x78, 0x0a, 0x61, 0x62, 0x63))),
      expect: connectionError,
    });
  });
});

describe("HPACK state across blocks (RFC 7541 §2.3, §4)", () => {
  it("dynamic entries, Huffman strings and size updates stay in step across calls", limits, async (t) => {
    // The first answer fills the dynamic table; the second one (the harness's follow-up call)
    // refers to its entries: any drift makes the second call fail.
    await runScenario(t, {
      target: () => true,
      onStream: (s) => {
        if (s.id === 1) {
          s.send(
            headers(
              s.id,
              new HpackWriter()
                .sizeUpdate(1024)
                .indexed(8)
                .literal(31, "application/grpc", { indexing: "incremental", huffman: true })
                .literal("x-trace", "abc", { indexing: "incremental" })
                .build(),
            ),
          );
          s.sendMessage(rangeResponse());
          s.send(
            headers(
              s.id,
              new HpackWriter()
                .literal("grpc-status", "0", { indexing: "incremental", huffman: true })
                .build(),
              {
                endStream: true,
              },
            ),
          );
          return;
        }
        // Now 62 = grpc-status: 0, 63 = x-trace: abc, 64 = content-type: application/grpc.
        s.send(
          headers(
            s.id,
            new HpackWriter().indexed(8).indexed(64).literal("x-seen", "yes", { indexing: "never" }).build(),
          ),
          data(s.id, envelope(rangeResponse())),
          headers(s.id, new HpackWriter().indexed(62).build(), { endStream: true }),
        );
      },
      expect: { scope: "healthy" },
    });
  });

  it(
    "a response split right after its HEADERS frame still parses (header block boundaries)",
    limits,
    async (t) => {
      // Sanity check of the peer itself: the standard answer, every frame in its own write.
      await runScenario(t, {
        onStream: async (s) => {
          s.respond(okHeaders);
          await new Promise((resolve) => setTimeout(resolve, 20));
          finish(s);
        },
        expect: { scope: "healthy" },
      });
    },
  );
});
