// Framing and connection-level errors (RFC 9113 §3.4, §4, §5.1, §5.4.1, §6.1-§6.8): a server
// that breaks these rules leaves a connection whose state can no longer be trusted, so the
// client must close it (and fail the calls on it with Unavailable). Unless said otherwise each
// scenario sends the violation and then a correct answer, so a client that ignores the violation
// shows up as a call that succeeded.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  data,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  goAway,
  headers,
  ping,
  priority,
  pushPromise,
  rstStream,
  Setting,
  settings,
} from "./frames.js";
import { envelope, okHeaders, okTrailers, snapshotResponse } from "./grpc.js";
import { type PeerStream, waitUntil } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const connectionError: Expectation = { scope: "connection", code: Code.Unavailable };

/** Sends `bad(stream)`, then answers correctly. */
function thenAnswer(bad: (s: PeerStream) => Uint8Array | Uint8Array[]) {
  return async (s: PeerStream) => {
    const frames = bad(s);
    s.send(...(Array.isArray(frames) ? frames : [frames]));
    await s.answer();
  };
}

describe("the connection preface and frame sizes (§3.4, §4.2)", () => {
  it(
    "a frame longer than our SETTINGS_MAX_FRAME_SIZE (16,385 bytes) closes the connection",
    limits,
    async (t) => {
      // FRAME_SIZE_ERROR; a connection error because we cannot tell what the frame would have changed.
      await runScenario(t, {
        onStream: thenAnswer((s) => frame(FrameType.data, 0, s.id, Buffer.alloc(16_385))),
        expect: connectionError,
      });
    },
  );

  it("a server whose first frame is not SETTINGS is refused", limits, async (t) => {
    // §3.4: the server preface is a SETTINGS frame; anything else is a PROTOCOL_ERROR.
    await runScenario(t, {
      peer: {
        handshake: false,
        onConnection: (c) => c.write(ping(), settings(), settings([], { ack: true })),
      },
      expect: connectionError,
    });
  });

  it("a server that answers in HTTP/1.1 is refused", limits, async (t) => {
    // The first 9 bytes read as a frame header announce a 4.7 MB frame: refused before any buffering.
    await runScenario(t, {
      peer: {
        handshake: false,
        onConnection: (c) => c.write(Buffer.from("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")),
      },
      expect: connectionError,
    });
  });

  it("unknown frame types and unknown SETTINGS are ignored", limits, async (t) => {
    // §4.1, §5.5: unknown types MUST be ignored (outside a header block); §6.5.2: unknown ids too.
    await runScenario(t, {
      onStream: thenAnswer((s) => [
        frame(FrameType.unknown, 0xff, s.id, Buffer.alloc(100, 1)),
        frame(FrameType.unknown, 0, 0, Buffer.alloc(3)),
        settings([[0x99, 7]]),
      ]),
      expect: { scope: "healthy" },
      check: ({ peer }) => {
        const acks =
          peer.connections[0]?.framesOf(FrameType.settings).filter((f) => f.flags & Flag.ack) ?? [];
        if (acks.length < 2)
          throw new Error(`the client acknowledged ${acks.length} of our 2 SETTINGS frames`);
      },
    });
  });
});

describe("SETTINGS (§6.5)", () => {
  it("SETTINGS on a stream other than 0 closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer((s) => settings([], { streamId: s.id })),
      expect: connectionError,
    });
  });

  it("a SETTINGS ACK with a payload closes the connection", limits, async (t) => {
    // FRAME_SIZE_ERROR: an ACK must be empty.
    await runScenario(t, {
      onStream: thenAnswer(() => settings([[Setting.maxConcurrentStreams, 10]], { ack: true })),
      expect: connectionError,
    });
  });

  it("SETTINGS whose length is not a multiple of 6 closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer(() => frame(FrameType.settings, 0, 0, Buffer.alloc(7))),
      expect: connectionError,
    });
  });

  it("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 closes the connection", limits, async (t) => {
    // FLOW_CONTROL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer(() => settings([[Setting.initialWindowSize, 2 ** 31]])),
      expect: connectionError,
    });
  });

  it("SETTINGS_MAX_FRAME_SIZE below 16,384 closes the connection", limits, async (t) => {
    // §6.5.2: PROTOCOL_ERROR. nghttp2 refuses it too (nghttp2_iv_check) rather than clamping.
    await runScenario(t, {
      onStream: thenAnswer(() => settings([[Setting.maxFrameSize, 16_383]])),
      expect: connectionError,
    });
  });

  it("SETTINGS_MAX_FRAME_SIZE above 16,777,215 closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer(() => settings([[Setting.maxFrameSize, 16_777_216]])),
      expect: connectionError,
    });
  });

  it("SETTINGS_ENABLE_PUSH = 1 from a server closes the connection", limits, async (t) => {
    // §6.5.2: a server MUST NOT send it with a value other than 0; a client treats 1 as PROTOCOL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer(() => settings([[Setting.enablePush, 1]])),
      expect: connectionError,
    });
  });

  it("SETTINGS of 33 entries closes the connection (nghttp2's max_settings)", limits, async (t) => {
    // ENHANCE_YOUR_CALM: 16 KiB of entries, each walking every open stream, would be CPU spent
    // on the peer's say-so (CVE-2020-11080). 32 are taken; see the next test.
    const entries = Array.from({ length: 33 }, () => [Setting.maxConcurrentStreams, 100] as [number, number]);
    await runScenario(t, { onStream: thenAnswer(() => settings(entries)), expect: connectionError });
  });

  it("SETTINGS of 32 entries, the initial window changing in each, are taken", limits, async (t) => {
    // The bound is not off by one, and the open stream's window ends where the last entry puts
    // it (moved once, by the difference): the call completes on the same connection.
    const entries = Array.from(
      { length: 32 },
      (_, i) => [Setting.initialWindowSize, 65_535 + (i % 2) * 1000] as [number, number],
    );
    await runScenario(t, {
      onStream: thenAnswer(() => settings(entries)),
      expect: { scope: "healthy" },
    });
  });

  it("SETTINGS_ENABLE_PUSH = 2 in the server's first SETTINGS fails the dial", limits, async (t) => {
    // Any value but 0 and 1 is a PROTOCOL_ERROR for either side.
    await runScenario(t, { peer: { settings: [[Setting.enablePush, 2]] }, expect: connectionError });
  });
});

describe("PING (§6.7)", () => {
  it("a PING of 7 bytes closes the connection", limits, async (t) => {
    await runScenario(t, { onStream: thenAnswer(() => ping(Buffer.alloc(7))), expect: connectionError });
  });

  it("a PING on a stream closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer((s) => ping(Buffer.alloc(8), { streamId: s.id })),
      expect: connectionError,
    });
  });

  it("a PING ACK the client never asked for is ignored", limits, async (t) => {
    // Nothing in §6.7 makes it an error; nghttp2 and grpc-go ignore ACKs they cannot match.
    await runScenario(t, {
      onStream: thenAnswer(() => ping(Buffer.from("unasked!"), { ack: true })),
      expect: { scope: "healthy" },
    });
  });

  it("a server that never answers the client's PING loses the connection", limits, async (t) => {
    // The silence probe PINGs a call that hears nothing; no answer within keepAliveTimeoutMs
    // kills the connection, so a black-holed server costs one call, not its whole deadline.
    await runScenario(t, {
      peer: { answerPings: false },
      client: { silenceProbeMs: 200, keepAliveTimeoutMs: 1000 },
      onStream: (s) => s.respond(),
      expect: { ...connectionError, failsBeforeDeadline: true },
    });
  });
});

describe("GOAWAY (§6.8)", () => {
  it("a GOAWAY of 7 bytes closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer(() => frame(FrameType.goAway, 0, 0, Buffer.alloc(7))),
      expect: connectionError,
    });
  });

  it("a GOAWAY on a stream closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer((s) => goAway(s.id, ErrorCode.noError, "", s.id)),
      expect: connectionError,
    });
  });

  it(
    "16 KB of GOAWAY debug data with CR/LF/ESC reach the error escaped and cut to ~1 KiB",
    limits,
    async (t) => {
      // Debug data is opaque bytes from the server: it must neither forge log lines nor flood logs.
      const debug = `too_many_pings\r\n\x1b[2J${"\r\n\x1b[31m".concat("Z".repeat(120)).repeat(130)}`.slice(
        0,
        16_000,
      );
      await runScenario(t, {
        onStream: (s) => s.send(goAway(0, ErrorCode.enhanceYourCalm, debug)),
        expect: {
          ...connectionError,
          message: (m) => {
            const shown = m.split("Z").length - 1;
            return shown > 1100 ? `${shown} characters of the debug data reached the message` : undefined;
          },
        },
      });
    },
  );

  it("a graceful GOAWAY lets the call in flight finish; the next call dials again", limits, async (t) => {
    // §6.8: streams up to the last stream id complete; the client opens no new stream there.
    await runScenario(t, {
      onStream: async (s) => {
        s.send(goAway(s.id, ErrorCode.noError));
        await s.answer();
      },
      expect: { scope: "healthy", sameConnection: false },
    });
  });
});

describe("RST_STREAM (§6.4)", () => {
  it("an RST_STREAM of 3 bytes closes the connection", limits, async (t) => {
    // FRAME_SIZE_ERROR.
    await runScenario(t, {
      onStream: thenAnswer((s) => rstStream(s.id, ErrorCode.cancel, 3)),
      expect: connectionError,
    });
  });

  it("an RST_STREAM on stream 0 closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer(() => rstStream(0, ErrorCode.cancel)),
      expect: connectionError,
    });
  });

  it("an RST_STREAM on an idle stream closes the connection", limits, async (t) => {
    // §6.4: "an idle stream ... MUST be treated as a connection error of type PROTOCOL_ERROR".
    await runScenario(t, {
      onStream: thenAnswer(() => rstStream(99, ErrorCode.cancel)),
      expect: connectionError,
    });
  });

  it("an RST_STREAM from the server fails only its own call", limits, async (t) => {
    // grpc-go maps CANCEL to Canceled; this client reports a reset stream as Unavailable.
    await runScenario(t, {
      onStream: (s) => s.send(rstStream(s.id, ErrorCode.cancel)),
      expect: { scope: "stream", code: [Code.Unavailable, Code.Canceled], peerEndsStream: true },
    });
  });
});

describe("streams the client did not open (§5.1, §6.1, §6.2, §6.6)", () => {
  it("PUSH_PROMISE closes the connection (push is disabled)", limits, async (t) => {
    // §8.4: a client that set SETTINGS_ENABLE_PUSH 0 treats PUSH_PROMISE as a PROTOCOL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer((s) =>
        pushPromise(s.id, 2, [
          [":method", "GET"],
          [":path", "/pushed"],
        ]),
      ),
      expect: connectionError,
    });
  });

  it("DATA on stream 0 closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer(() => data(0, Buffer.from("stray"))),
      expect: connectionError,
    });
  });

  it("DATA on an idle stream closes the connection", limits, async (t) => {
    // Stream 5 was never opened: §5.1 idle, anything but HEADERS/PRIORITY is a PROTOCOL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer(() => data(5, Buffer.from("stray"))),
      expect: connectionError,
    });
  });

  it("HEADERS on stream 0 closes the connection", limits, async (t) => {
    await runScenario(t, { onStream: thenAnswer(() => headers(0, okHeaders)), expect: connectionError });
  });

  it("HEADERS on an even (server-initiated) stream closes the connection", limits, async (t) => {
    // With push disabled a server opens no stream: stream 2 is idle and stays so.
    await runScenario(t, { onStream: thenAnswer(() => headers(2, okHeaders)), expect: connectionError });
  });

  it("HEADERS on an odd stream the client never opened closes the connection", limits, async (t) => {
    await runScenario(t, { onStream: thenAnswer(() => headers(99, okHeaders)), expect: connectionError });
  });

  it("frames the server had in flight on a stream the client reset are ignored", limits, async (t) => {
    // §5.1 "closed": after sending RST_STREAM an endpoint MUST ignore frames on that stream.
    await runScenario(t, {
      deadlineMs: 300,
      onStream: async (s) => {
        s.respond();
        await waitUntil(() => s.resetCode !== undefined, 2000);
        s.send(data(s.id, Buffer.from("late")), headers(s.id, [["grpc-status", "0"]], { endStream: true }));
      },
      expect: { scope: "stream", code: Code.DeadlineExceeded },
    });
  });
});

describe("padding and priority (§6.1, §6.2, §6.3)", () => {
  it("DATA padding longer than the frame closes the connection", limits, async (t) => {
    // Pad length 10 in a 6-byte payload: PROTOCOL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer((s) => [
        headers(s.id, okHeaders),
        frame(FrameType.data, Flag.padded, s.id, Buffer.from([10, 1, 2, 3, 4, 5])),
      ]),
      expect: connectionError,
    });
  });

  it("HEADERS padding longer than the frame closes the connection", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer((s) =>
        frame(FrameType.headers, Flag.padded | Flag.endHeaders, s.id, Buffer.from([200, 0x88])),
      ),
      expect: connectionError,
    });
  });

  it("PRIORITY frames and padded HEADERS with a priority block are understood", limits, async (t) => {
    // RFC 9113 deprecates priorities but the frames stay valid and must be skipped correctly.
    await runScenario(t, {
      onStream: (s) => {
        s.send(
          priority(s.id, 200),
          priority(7, 1), // on an idle stream: allowed (§5.1)
          headers(s.id, okHeaders, { priority: true, padLength: 17 }),
        );
        s.sendMessage(Buffer.alloc(0));
        s.send(
          data(s.id, Buffer.alloc(0), { padLength: 255 }),
          headers(s.id, [["grpc-status", "0"]], { endStream: true, padLength: 3 }),
        );
      },
      expect: { scope: "healthy" },
    });
  });
});

describe("DATA frames split across reads", () => {
  // The client hands a DATA frame's payload on as its reads arrive (as nghttp2 does), judging
  // the frame by its header, instead of holding it until its last byte is in.
  const blobs = [Buffer.alloc(1000, 1), Buffer.alloc(3000, 2)];
  const messages = blobs.map((blob) => envelope(snapshotResponse(blob)));
  const splitFrame = (id: number) => data(id, Buffer.concat(messages));
  const firstPiece = 9 + (messages[0] as Buffer).length + 100;
  // Only a hang waits this long: the peer and the calls bound their waits for each other by it,
  // generously, since both run in one process that a loaded machine may stall for seconds.
  const bound = 10_000;
  // The peer says when the rest of the split frame is out: another frame may follow it then.
  const restOfFrame = () => {
    let restSent: () => void = () => {};
    const sent = new Promise<void>((resolve) => {
      restSent = resolve;
    });
    return { sent, restSent };
  };

  it("a message in a frame's first piece is read before the frame ends", limits, async (t) => {
    const { sent, restSent } = restOfFrame();
    await runScenario(t, {
      call: async (client) => {
        const stream = client.rpc.maintenance.snapshot({}, { timeoutMs: bound })[Symbol.asyncIterator]();
        const first = await stream.next();
        // The peer sends the rest of the frame only once it sees this call.
        await client.get("k", { timeoutMs: bound });
        const second = await stream.next();
        if (!(await stream.next()).done) throw new Error("a third message");
        const got = [first.value?.blob, second.value?.blob].map((blob) => Buffer.from(blob ?? []));
        if (!got.every((blob, i) => blob.equals(blobs[i] as Buffer))) throw new Error("messages differ");
      },
      // Both streams: the get is answered once the split frame is complete, as the bytes of
      // another frame must not land inside it.
      target: () => true,
      onStream: async (s) => {
        if (!s.path.endsWith("/Snapshot")) {
          await sent;
          await s.answer();
          return;
        }
        s.respond();
        const split = splitFrame(s.id);
        s.send(split.subarray(0, firstPiece));
        if (!(await waitUntil(() => s.conn.streams.size >= 2, bound))) {
          throw new Error("the client read nothing of the frame before its end");
        }
        s.send(split.subarray(firstPiece));
        restSent();
        s.trail();
      },
      deadlineMs: bound,
      expect: { scope: "healthy" },
    });
  });

  it(
    "a stream reset between a frame's pieces drops the rest; the frames after it are read",
    limits,
    async (t) => {
      const { sent, restSent } = restOfFrame();
      await runScenario(t, {
        call: async (client) => {
          // Cancelled by its signal (the stream's messages have no `return`, as Connect's have
          // none), once the first message is read.
          const cancel = new AbortController();
          const stream = client.rpc.maintenance
            .snapshot({}, { timeoutMs: bound, signal: cancel.signal })
            [Symbol.asyncIterator]();
          await stream.next();
          cancel.abort();
          // The next call's answer comes after the rest of the frame: it is read only if the
          // client knew where that frame ended.
          await sent;
          return client.get("k", { timeoutMs: bound });
        },
        onStream: async (s) => {
          s.respond();
          const split = splitFrame(s.id);
          s.send(split.subarray(0, firstPiece));
          if (!(await waitUntil(() => s.resetCode !== undefined, bound))) throw new Error("no RST_STREAM");
          s.send(split.subarray(firstPiece), headers(s.id, okTrailers, { endStream: true }));
          restSent();
        },
        deadlineMs: bound,
        expect: { scope: "healthy" },
      });
    },
  );
  it("a split DATA frame on an idle stream closes the connection at its header", limits, async (t) => {
    // Judged as a whole frame is: the rest of it never comes.
    await runScenario(t, {
      onStream: thenAnswer(() => data(5, Buffer.alloc(2000, 7)).subarray(0, 100)),
      expect: connectionError,
    });
  });
});
