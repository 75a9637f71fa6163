// Malformed responses (RFC 9113 §8.1-§8.3): the frames are valid and the HPACK table is in
// step, so only the one stream is broken. The client resets it (PROTOCOL_ERROR, §8.1.1), fails
// its call with Internal (what grpc-go reports for a malformed response) and keeps the
// connection for other calls. Each scenario completes the answer after the fault, so a client
// that lets the fault through shows up as a call that succeeded.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { data, headers } from "./frames.js";
import { envelope, okHeaders, okTrailers, rangeResponse } from "./grpc.js";
import type { HeaderFields } from "./hpack-writer.js";
import type { PeerStream } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const malformed: Expectation = { scope: "stream", code: Code.Internal };

/** A whole answer with these response headers and trailers. */
function answerWith(head: HeaderFields, trailers: HeaderFields = okTrailers) {
  return (s: PeerStream) => {
    s.respond(head);
    s.sendMessage(rangeResponse());
    s.trail(trailers);
  };
}

describe("malformed header sections (§8.2, §8.3)", () => {
  it("an uppercase header name fails the call and resets its stream", limits, async (t) => {
    // §8.2.1: "A field name MUST NOT contain characters in the ranges 0x41 to 0x5a".
    await runScenario(t, { onStream: answerWith([...okHeaders, ["X-Upper", "1"]]), expect: malformed });
  });

  it("a response without :status fails the call and resets its stream", limits, async (t) => {
    // §8.3.2: :status is mandatory; grpc-go: "malformed header: missing HTTP status" (Internal).
    await runScenario(t, { onStream: answerWith([["content-type", "application/grpc"]]), expect: malformed });
  });

  it("an unknown pseudo-header fails the call and resets its stream", limits, async (t) => {
    // §8.3: pseudo-headers other than those defined for responses make it malformed.
    await runScenario(t, { onStream: answerWith([...okHeaders, [":foo", "bar"]]), expect: malformed });
  });

  it("a pseudo-header in the trailers fails the call and resets its stream", limits, async (t) => {
    // §8.1: "Pseudo-header fields MUST NOT appear in a trailer section."
    await runScenario(t, {
      onStream: answerWith(okHeaders, [[":status", "200"], ...okTrailers]),
      expect: malformed,
    });
  });

  it("a pseudo-header after a regular field fails the call and resets its stream", limits, async (t) => {
    // §8.3: all pseudo-headers come before the regular fields.
    await runScenario(t, {
      onStream: answerWith([
        ["content-type", "application/grpc"],
        [":status", "200"],
      ]),
      expect: malformed,
    });
  });

  it("a connection-specific header field fails the call and resets its stream", limits, async (t) => {
    // §8.2.2: Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade make it malformed.
    await runScenario(t, {
      onStream: answerWith([...okHeaders, ["connection", "keep-alive"]]),
      expect: malformed,
    });
  });

  it("a field value with CR/LF fails the call and resets its stream", limits, async (t) => {
    // §8.2.1: a value MUST NOT contain NUL, LF or CR (response splitting through a proxy).
    await runScenario(t, {
      onStream: answerWith([...okHeaders, ["x-evil", "a\r\nset-cookie: b"]]),
      expect: malformed,
    });
  });
});

describe("frame order within a response (§8.1)", () => {
  it("DATA before the response HEADERS fails the call and resets its stream", limits, async (t) => {
    await runScenario(t, {
      onStream: (s) => {
        s.send(data(s.id, envelope(rangeResponse())));
        s.respond();
        s.trail();
      },
      expect: malformed,
    });
  });

  it("DATA after the trailers fails the call and resets its stream", limits, async (t) => {
    // Trailers without END_STREAM, then an empty DATA that ends the stream.
    await runScenario(t, {
      onStream: (s) => {
        s.respond();
        s.sendMessage(rangeResponse());
        s.send(headers(s.id, okTrailers), data(s.id, Buffer.alloc(0), { endStream: true }));
      },
      expect: malformed,
    });
  });

  it("HEADERS after the trailers fails the call and resets its stream", limits, async (t) => {
    await runScenario(t, {
      onStream: (s) => {
        s.respond();
        s.sendMessage(rangeResponse());
        s.send(headers(s.id, okTrailers), headers(s.id, okTrailers, { endStream: true }));
      },
      expect: malformed,
    });
  });

  it("trailers without END_STREAM fail the call at once, not at its deadline", limits, async (t) => {
    // §8.1: a HEADERS frame after the final response without END_STREAM makes it malformed:
    // the client knows right there, and must not wait for frames that cannot be valid.
    await runScenario(t, {
      onStream: (s) => {
        s.respond();
        s.sendMessage(rangeResponse());
        s.send(headers(s.id, okTrailers));
      },
      expect: { ...malformed, failsBeforeDeadline: true },
    });
  });

  it("an informational 1xx response before the real one is skipped", limits, async (t) => {
    // §8.1: zero or more 1xx HEADERS may precede the final response.
    await runScenario(t, {
      onStream: (s) => {
        s.respond([[":status", "100"]]);
        s.respond([
          [":status", "103"],
          ["link", "</x>"],
        ]);
        s.respond();
        s.sendMessage(rangeResponse());
        s.trail();
      },
      expect: { scope: "healthy" },
    });
  });
});
