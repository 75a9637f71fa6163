// The gRPC layer (PROTOCOL-HTTP2.md of grpc/grpc): the HTTP/2 stream ends normally but the answer
// is not a valid gRPC response: a bad grpc-status, grpc-message or grpc-status-details-bin, a
// bad length-prefixed body, or not a gRPC answer at all. The call fails with the code given;
// the connection is fine and keeps serving calls. Server text (grpc-message, content-type) is
// untrusted: it reaches the error escaped, and at most ~1 KiB of it.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { type Client, toEtcdError } from "@etcd-connect/client";
import { data, headers } from "./frames.js";
import { envelope, errorTrailers, okHeaders, okTrailers, rangeResponse, snapshotResponse } from "./grpc.js";
import type { HeaderFields } from "./hpack-writer.js";
import { type PeerStream, sleep, waitUntil } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const internal: Expectation = { scope: "grpc", code: Code.Internal };

/** 200, one RangeResponse, then these trailers. */
function answerThenTrail(trailers: HeaderFields) {
  return (s: PeerStream) => {
    s.respond();
    s.sendMessage(rangeResponse());
    s.trail(trailers);
  };
}

/** 200 and these DATA bytes as the body, then OK trailers. */
function answerWithBody(body: Uint8Array) {
  return (s: PeerStream) => {
    s.respond();
    s.send(data(s.id, body));
    s.trail();
  };
}

/** Reads a whole server stream (Snapshot), as EtcdErrors, like the facades do. */
async function readSnapshot(client: Client): Promise<void> {
  try {
    for await (const _chunk of client.rpc.maintenance.snapshot({}, { timeoutMs: 2000 })) {
      // Only the end of the stream matters.
    }
  } catch (error) {
    throw toEtcdError(error);
  }
}

/** "NotFound" with at most ~1 KiB of the `Z` filler of the server's text. */
function capped(m: string): string | undefined {
  const shown = m.split("Z").length - 1;
  return shown > 1100 ? `${shown} characters of the server's text reached the message` : undefined;
}

describe("grpc-status (a decimal integer 0..16, nothing else)", () => {
  // Number() reads "", " ", "0x0", "+0" and "00" as 0 (OK!), "2.5" as 2.5. grpc-go parses with
  // strconv.ParseInt(v, 10, 32), which takes "00", "+0" and "-1"; the contract here is stricter:
  // only the canonical decimal spelling of 0..16 is a status, anything else is Internal.
  for (const status of ["", " ", "0x0", "2.5", "17", "-1", "00", "+0"]) {
    it(`grpc-status ${JSON.stringify(status)} in the trailers is Internal, never OK`, limits, async (t) => {
      await runScenario(t, { onStream: answerThenTrail([["grpc-status", status]]), expect: internal });
    });
  }

  for (const status of ["", "17"]) {
    it(`grpc-status ${JSON.stringify(status)} in a trailers-only answer is Internal`, limits, async (t) => {
      // Trailers-only: one HEADERS with :status, content-type and grpc-status, and END_STREAM.
      await runScenario(t, {
        onStream: (s) => s.respond([...okHeaders, ["grpc-status", status]], true),
        expect: { ...internal, peerEndsStream: true },
      });
    });
  }

  it("grpc-status 0 in the response headers but none in the trailers is Internal", limits, async (t) => {
    // A status belongs in the trailers unless the answer is trailers-only: a 0 up front proves nothing.
    await runScenario(t, {
      onStream: (s) => {
        s.respond([...okHeaders, ["grpc-status", "0"]]);
        s.sendMessage(rangeResponse());
        s.trail([["x-other", "1"]]);
      },
      expect: internal,
    });
  });

  it("a unary answer without grpc-status is Internal", limits, async (t) => {
    await runScenario(t, { onStream: answerThenTrail([["x-other", "1"]]), expect: internal });
  });

  it("a server stream without grpc-status is Internal too", limits, async (t) => {
    await runScenario(t, {
      call: readSnapshot,
      onStream: (s) => {
        s.respond();
        s.sendMessage(snapshotResponse(Buffer.from("db")));
        s.trail([["x-other", "1"]]);
      },
      expect: internal,
    });
  });
});

describe("grpc-message and grpc-status-details-bin", () => {
  it("a grpc-message with a bad % escape keeps the status and passes the raw text", limits, async (t) => {
    // The gRPC spec: a receiver that cannot decode the message uses it as it is.
    await runScenario(t, {
      onStream: answerThenTrail(errorTrailers("5", "%zz% missing")),
      expect: {
        scope: "grpc",
        code: Code.NotFound,
        message: (m) =>
          m.includes("%zz% missing") ? undefined : `the raw grpc-message is not in ${JSON.stringify(m)}`,
      },
    });
  });

  it("a grpc-message with encoded CR/LF/ESC reaches the error escaped", limits, async (t) => {
    // Decoded, these would let a server forge log lines or drive a terminal.
    await runScenario(t, {
      onStream: answerThenTrail(errorTrailers("5", "line1%0D%0Aforged: yes%1B[31mred%00")),
      expect: { scope: "grpc", code: Code.NotFound },
    });
  });

  it("a 16 KB grpc-message is cut to ~1 KiB", limits, async (t) => {
    await runScenario(t, {
      onStream: answerThenTrail(errorTrailers("5", "Z".repeat(16_000))),
      expect: { scope: "grpc", code: Code.NotFound, message: capped },
    });
  });

  it("grpc-status-details-bin that is not base64 is Internal", limits, async (t) => {
    // grpc-go: "transport: malformed grpc-status-details-bin" with codes.Internal.
    await runScenario(t, {
      onStream: answerThenTrail([
        ...errorTrailers("5", "gone"),
        ["grpc-status-details-bin", "!!not*base64!!"],
      ]),
      expect: internal,
    });
  });

  it("grpc-status-details-bin that is not a google.rpc.Status is Internal", limits, async (t) => {
    // 0x12 0x05 0x61: field 2 (message), 5 bytes announced, 1 present.
    await runScenario(t, {
      onStream: answerThenTrail([
        ...errorTrailers("5", "gone"),
        ["grpc-status-details-bin", Buffer.of(0x12, 0x05, 0x61).toString("base64")],
      ]),
      expect: internal,
    });
  });
});

describe("the length-prefixed body", () => {
  it("a message declared over maxCallRecvMsgSize fails as soon as its prefix arrives", limits, async (t) => {
    // Only the 5-byte prefix is sent: a client that waits for the body before checking would
    // sit until the deadline (and, against a real server, buffer it all).
    await runScenario(t, {
      client: { maxCallRecvMsgSize: 1024, maxCallSendMsgSize: 1024 },
      onStream: (s) => {
        s.respond();
        s.send(data(s.id, envelope(Buffer.alloc(0), { declaredLength: 2000 })));
      },
      expect: { scope: "stream", code: Code.ResourceExhausted, failsBeforeDeadline: true },
    });
  });

  it("bytes beyond the declared message length are Internal", limits, async (t) => {
    await runScenario(t, {
      onStream: answerWithBody(Buffer.concat([envelope(rangeResponse()), Buffer.of(1, 2, 3)])),
      expect: internal,
    });
  });

  it("two messages in a unary answer are Internal", limits, async (t) => {
    await runScenario(t, {
      onStream: answerWithBody(Buffer.concat([envelope(rangeResponse()), envelope(rangeResponse())])),
      expect: internal,
    });
  });

  it("a message with the compressed flag (no grpc-encoding agreed) is Internal", limits, async (t) => {
    await runScenario(t, {
      onStream: answerWithBody(envelope(rangeResponse(), { compressed: true })),
      expect: internal,
    });
  });

  it("a body shorter than its prefix when the stream ends is Internal", limits, async (t) => {
    await runScenario(t, {
      onStream: answerWithBody(envelope(Buffer.alloc(50), { declaredLength: 100 })),
      expect: internal,
    });
  });

  it("a 1 GiB message trickled in ends at the deadline with bounded memory", limits, async (t) => {
    // Within the default maxCallRecvMsgSize (2^31-1): nothing to refuse, but nothing may be
    // allocated for the declared size either.
    await runScenario(t, {
      deadlineMs: 1000,
      onStream: async (s) => {
        s.respond();
        s.send(data(s.id, envelope(Buffer.alloc(0), { declaredLength: 2 ** 30 })));
        const chunk = Buffer.alloc(1024, 7);
        for (let i = 0; i < 60 && s.resetCode === undefined && s.conn.closedAt === undefined; i++) {
          s.send(data(s.id, chunk));
          await sleep(50);
        }
      },
      expect: { scope: "stream", code: Code.DeadlineExceeded },
    });
  });
});

describe("answers that are not gRPC", () => {
  // The harness accepts Unavailable or Unknown: grpc-go maps 404 to Unimplemented and most other
  // statuses to Unknown; this client reports "not an etcd server" as Unavailable.
  const notGrpc = [Code.Unavailable, Code.Unknown];

  it("HTTP 404 with END_STREAM fails the call; the connection stays", limits, async (t) => {
    await runScenario(t, {
      onStream: (s) =>
        s.respond(
          [
            [":status", "404"],
            ["content-type", "text/plain"],
          ],
          true,
        ),
      expect: { scope: "stream", code: notGrpc, peerEndsStream: true },
    });
  });

  it(
    "HTTP 500 with a body: the client resets the stream and ignores what was in flight",
    limits,
    async (t) => {
      await runScenario(t, {
        onStream: async (s) => {
          s.respond([
            [":status", "500"],
            ["content-type", "text/plain"],
          ]);
          s.send(data(s.id, Buffer.from("Internal Server Error")));
          await waitUntil(() => s.resetCode !== undefined, 1000);
          s.send(data(s.id, Buffer.from("more")), headers(s.id, okTrailers, { endStream: true }));
        },
        expect: { scope: "stream", code: notGrpc },
      });
    },
  );

  it(
    "a text/html content-type with control characters fails the call without them in the message",
    limits,
    async (t) => {
      // ESC is not forbidden by §8.2.1 (only NUL/CR/LF), so it may reach the client's text;
      // a client that treats it as a malformed field (Internal) is fine too.
      await runScenario(t, {
        onStream: (s) => {
          s.respond([
            [":status", "200"],
            ["content-type", "text/html\x1b[31m\x07<b>"],
          ]);
          s.send(data(s.id, Buffer.from("<html></html>")));
        },
        expect: { scope: "stream", code: [...notGrpc, Code.Internal] },
      });
    },
  );
});
