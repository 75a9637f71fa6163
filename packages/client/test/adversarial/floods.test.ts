// Resource exhaustion: a server that makes the client work or buffer without bound. Control
// frames the client must answer (PING, SETTINGS) from a server that does not read its socket
// (the "ping flood" and "settings flood" of CVE-2019-9512/9515), endless CONTINUATION frames
// (the 2024 "CONTINUATION flood"), and an HPACK bomb (a small block that decodes to a huge
// header list). The bound in each is on the client's memory and event loop, checked by the
// harness for every scenario: RSS +64 MB at most, no event-loop block over 100 ms.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  continuation,
  data,
  ErrorCode,
  Flag,
  FrameType,
  frame,
  headerFrames,
  headers,
  ping,
  priority,
  Setting,
  settings,
  windowUpdate,
} from "./frames.js";
import { rangeResponse } from "./grpc.js";
import { HpackWriter } from "./hpack-writer.js";
import { leave, type PeerStream, waitUntil } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const connectionError: Expectation = { scope: "connection", code: Code.Unavailable };

/**
 * Stops reading the socket and writes `unit` for as long as the socket takes it (bounded), so
 * every answer the client writes piles up on its side: the kernel's buffers fill first (a few
 * MB on loopback), then the client's own queue.
 */
function floodWithoutReading(unit: Buffer) {
  return async (s: PeerStream) => {
    s.conn.socket.pause();
    await s.conn.flood(unit, { maxBytes: 48 << 20, maxMs: 3000 });
    s.conn.socket.resume();
  };
}

describe("control-frame floods", () => {
  it("PINGs from a server that does not read: the client closes the connection", limits, async (t) => {
    // Each PING owes a PING ACK; nghttp2 stops at 1,000 queued control frames
    // (NGHTTP2_DEFAULT_MAX_OBQ_FLOOD_ITEM) and so must this client, instead of queueing forever.
    await runScenario(t, {
      onStream: floodWithoutReading(ping(Buffer.from("floodme!"))),
      expect: connectionError,
    });
  });

  it("SETTINGS from a server that does not read: the client closes the connection", limits, async (t) => {
    // Each SETTINGS owes an ACK: the same queue, the same bound.
    await runScenario(t, { onStream: floodWithoutReading(settings()), expect: connectionError });
  });

  it("50 PINGs from a server that reads are all answered; the connection stays", limits, async (t) => {
    // The flood bound must count answers not yet written, not PINGs received.
    await runScenario(t, {
      onStream: async (s) => {
        for (let i = 0; i < 50; i++) {
          const opaque = Buffer.alloc(8);
          opaque.writeUInt32BE(i, 4);
          s.send(ping(opaque));
        }
        await s.answer();
      },
      expect: { scope: "healthy" },
      check: async ({ peer }) => {
        const acks = () => peer.connections[0]?.count(FrameType.ping, true) ?? 0;
        if (!(await waitUntil(() => acks() >= 50, 1000)))
          throw new Error(`the client answered ${acks()} of 50 PINGs`);
      },
    });
  });
});

describe("header floods", () => {
  it("endless empty CONTINUATION frames: the client gives up after a few", limits, async (t) => {
    // Zero-length CONTINUATION frames never grow the block, so a size bound alone never trips;
    // nghttp2 allows 8 per block, and memory must not grow per frame.
    await runScenario(t, {
      onStream: async (s) => {
        s.send(headers(s.id, new HpackWriter().indexed(8).build(), { endHeaders: false }));
        await s.conn.flood(continuation(s.id, Buffer.alloc(0)), { maxBytes: 8 << 20, maxMs: 3000 });
      },
      expect: { ...connectionError, failsBeforeDeadline: true },
    });
  });

  it("an HPACK bomb fails its call fast and leaves the HPACK table in step", limits, async (t) => {
    // One 3,938-octet dynamic entry, then 60,000 one-byte references to it: a 64,000-byte block
    // (4 frames) that decodes to 234 MB of header list. (130k references would need 130 KB: the
    // 64 KiB block bound would refuse that first.) The client must count, not build, the list;
    // and it must still have decoded the block, since the next answer uses the table.
    await runScenario(t, {
      target: () => true,
      onStream: (s) => {
        if (s.id === 1) {
          const block = new HpackWriter()
            .indexed(8)
            .literal("content-type", "application/grpc", { indexing: "incremental" }) // becomes 63
            .literal("x-bomb", "b".repeat(3900), { indexing: "incremental" }) // 62
            .repeatIndexed(62, 60_000)
            .build();
          s.send(...headerFrames(s.id, block));
        } else {
          // Only a client whose table matches ours reads index 63 as content-type.
          s.send(headers(s.id, new HpackWriter().indexed(8).indexed(63).build()));
        }
        s.sendMessage(rangeResponse());
        s.trail();
      },
      expect: { scope: "stream", code: [Code.Internal, Code.ResourceExhausted], failsBeforeDeadline: true },
    });
  });
});

describe("empty frame floods", () => {
  // Frames that carry nothing (empty DATA: CVE-2019-9518; PRIORITY; unknown types) cost a parse
  // each and look like a live peer. 1,000 in a row are taken (the next test), not endless ones.
  const emptyData = (s: PeerStream) => data(s.id, Buffer.alloc(0));
  for (const [name, unit] of [
    ["empty DATA frames on an answered stream", emptyData],
    ["PRIORITY frames", (s: PeerStream) => priority(s.id)],
    ["frames of an unknown type", (s: PeerStream) => frame(0x7f, 0, s.id)],
  ] as const) {
    it(`endless ${name}: the client closes the connection`, limits, async (t) => {
      await runScenario(t, {
        onStream: async (s) => {
          s.respond();
          await s.conn.flood(unit(s), { maxBytes: 8 << 20, maxMs: 3000 });
        },
        expect: { ...connectionError, failsBeforeDeadline: true },
      });
    });
  }

  // Frames for a stream the client has closed carry nothing either, and must not start the count
  // again; nor ACKs of what the client never sent. Stream 1 is answered and closed; the flood
  // goes to it while the call on stream 3 waits.
  const closedStream = (s: PeerStream) => s.id - 2;
  for (const [name, unit] of [
    [
      "empty DATA with END_STREAM",
      (s: PeerStream) => data(closedStream(s), Buffer.alloc(0), { endStream: true }),
    ],
    ["WINDOW_UPDATE", (s: PeerStream) => windowUpdate(closedStream(s), 1)],
    [
      "HEADERS, each followed by 1,000 PRIORITY frames,",
      (s: PeerStream) =>
        Buffer.concat([
          headers(closedStream(s), new HpackWriter().indexed(8).build(), { endStream: true }),
          ...Array.from({ length: 1000 }, () => priority(s.id)),
        ]),
    ],
    [
      "DATA of one byte, each followed by 1,000 PRIORITY frames,",
      (s: PeerStream) =>
        Buffer.concat([
          data(closedStream(s), Buffer.of(0)),
          ...Array.from({ length: 1000 }, () => priority(s.id)),
        ]),
    ],
  ] as const) {
    it(`endless ${name} on a closed stream: the client closes the connection`, limits, async (t) => {
      await runScenario(t, {
        target: (_s, i) => i === 1,
        call: async (client) => {
          await client.get("first");
          return client.get("k", { timeoutMs: 10_000 });
        },
        onStream: async (s) => {
          s.respond();
          await s.conn.flood(unit(s), { maxBytes: 8 << 20, maxMs: 3000 });
        },
        expect: { ...connectionError, failsBeforeDeadline: true },
      });
    });
  }

  for (const [name, unit] of [
    ["SETTINGS ACKs", () => frame(FrameType.settings, Flag.ack, 0)],
    ["PING ACKs of PINGs the client never sent", () => ping(Buffer.alloc(8, 0xee), { ack: true })],
  ] as const) {
    it(`endless ${name}: the client closes the connection`, limits, async (t) => {
      await runScenario(t, {
        onStream: async (s) => {
          s.respond();
          await s.conn.flood(unit(), { maxBytes: 8 << 20, maxMs: 3000 });
        },
        expect: { ...connectionError, failsBeforeDeadline: true },
      });
    });
  }

  it("1,000 empty frames in a row, twice, with an answer between, are taken", limits, async (t) => {
    // The bound is not off by one, and frames with content (the answer) start the count again:
    // 2,000 without the answer between them would close the connection.
    await runScenario(t, {
      onStream: (s) => {
        s.respond();
        s.send(...Array.from({ length: 1000 }, () => emptyData(s)));
        s.sendMessage(rangeResponse());
        s.trail();
        s.send(...Array.from({ length: 1000 }, () => priority(s.id)));
      },
      expect: { scope: "healthy" },
    });
  });
});

describe("GOAWAY storms", () => {
  it("25 GOAWAY too_many_pings in a row across reconnects raise no process warning", limits, async (t) => {
    // etcd's answer to pings it finds too frequent. The client backs its ping interval off (as
    // grpc-go does) on each: doubling without a cap overflows setTimeout's 2^31-1 ms after 18
    // of them, and Node then warns (TimeoutOverflowWarning) and fires the timer at once.
    await runScenario(t, {
      target: () => true,
      onStream: async (s) => {
        // One write for the answer and the GOAWAY: the client sees both before its next call.
        s.conn.socket.cork();
        await s.answer();
        leave(s.conn, s.id, ErrorCode.enhanceYourCalm, "too_many_pings");
      },
      call: async (client) => {
        for (let i = 0; i < 25; i++) await client.get("k", { timeoutMs: 2000 });
      },
      deadlineMs: 10_000,
      expect: { scope: "healthy", sameConnection: false },
      check: ({ peer }) => {
        if (peer.connections.length < 25)
          throw new Error(`only ${peer.connections.length} connections for 25 calls`);
      },
    });
  });
});

describe("a server that stops reading our requests", () => {
  it(
    "with windows of 2 GiB and a frame now and then to look alive: the queue stops at 64 MiB and the connection closes",
    limits,
    async (t) => {
      // Our DATA is bounded by the peer's windows, and this peer opens them wide, then never
      // reads again. Calls go on being made; what waits for the socket must stop somewhere.
      const value = Buffer.alloc(60 << 10, 1);
      let alive: NodeJS.Timeout | undefined;
      t.after(() => clearInterval(alive));
      await runScenario(t, {
        peer: { settings: [[Setting.initialWindowSize, 2 ** 31 - 1]] },
        // Every stream is the peer's: none is answered.
        target: () => true,
        onStream: (s) => {
          if (alive !== undefined) return;
          s.conn.write(windowUpdate(0, 2 ** 31 - 1 - 65_535));
          s.conn.socket.pause();
          alive = setInterval(() => s.conn.write(priority(s.id)), 200);
        },
        call: (client) =>
          new Promise((resolve, reject) => {
            // Waves of puts, as an application's callers would make them, until one fails.
            let failed = false;
            const wave = async () => {
              for (let i = 0; i < 4000 && !failed; i++) {
                client
                  .put(`flood/${i % 100}`, value, { timeoutMs: 10_000 })
                  .then(undefined, (error: unknown) => {
                    failed = true;
                    reject(error);
                  });
                if (i % 20 === 19) await new Promise((r) => setTimeout(r, 5));
              }
              if (!failed) resolve(undefined);
            };
            void wave();
          }),
        deadlineMs: 10_000,
        expect: {
          scope: "connection",
          code: Code.Unavailable,
          failsBeforeDeadline: true,
          // The bound itself, the socket's own buffers and the values of calls in flight.
          rssGrowthMb: 256,
          message: (m) => (m.includes("stopped reading") ? undefined : `not closed by the write bound: ${m}`),
        },
      });
    },
  );
});
