// Flow control (RFC 9113 §6.9): WINDOW_UPDATE frames the server must not send, windows that
// overflow 2^31-1, and DATA beyond the windows the client advertised. A window is a bound on
// what the client buffers, so DATA beyond it is exactly what an attacker would send.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { type Client, toEtcdError } from "@etcd-connect/client";
import { Setting, settings, windowUpdate } from "./frames.js";
import { envelope, snapshotResponse } from "./grpc.js";
import { type PeerStream, sleep, waitUntil } from "./raw-peer.js";
import { type Expectation, limits, runScenario } from "./scenario.js";

const connectionError: Expectation = { scope: "connection", code: Code.Unavailable };
const maxWindow = 2 ** 31 - 1;

function thenAnswer(bad: (s: PeerStream) => Uint8Array | Promise<Uint8Array[]>) {
  return async (s: PeerStream) => {
    const frames = await bad(s);
    s.send(...(Array.isArray(frames) ? frames : [frames]));
    await s.answer();
  };
}

// What the client sent on a stream counts against the window we gave it (65,535: our SETTINGS
// leave the default), so an exact overflow needs the size of its request.
async function clientWindow(s: PeerStream): Promise<number> {
  await waitUntil(() => s.ended, 1000);
  return 65_535 - s.request.reduce((sum, chunk) => sum + chunk.length, 0);
}

// Snapshot messages of 64 KiB, back to back: more than one stream window (4 MiB) of them.
const filler = Buffer.concat(
  Array.from({ length: 70 }, () => envelope(snapshotResponse(Buffer.alloc(65_536, 1)))),
);

/**
 * Sends on `streams` whatever both windows allow, round after round, until nothing more fits
 * and the client has been quiet for a while (its WINDOW_UPDATEs, if any, have arrived).
 */
async function fillWindows(streams: PeerStream[]): Promise<Map<PeerStream, number>> {
  const sent = new Map(streams.map((s) => [s, 0]));
  for (let round = 0; round < 20; round++) {
    let progressed = false;
    for (const s of streams) {
      const n = Math.min(s.sendWindow, s.conn.sendWindow);
      if (n <= 0) continue;
      const from = sent.get(s) ?? 0;
      s.conn.sendData(s.id, filler.subarray(from, from + n));
      sent.set(s, from + n);
      progressed = true;
    }
    await sleep(150);
    if (!progressed) break;
  }
  return sent;
}

/**
 * Opens `count` Snapshot streams nobody reads until `staged` resolves, then reads them all.
 * The peer resolves `staged` once the client has answered its last frame: reading returns
 * window, and must not do so before the client has seen that frame.
 */
function unreadSnapshots(count: number, staged: Promise<boolean>) {
  return async (client: Client) => {
    const streams = Array.from({ length: count }, () =>
      client.rpc.maintenance.snapshot({}, { timeoutMs: 4000 })[Symbol.asyncIterator](),
    );
    if (!(await staged)) return;
    try {
      for (const stream of streams) while (!(await stream.next()).done);
    } catch (error) {
      throw toEtcdError(error);
    }
  };
}

describe("WINDOW_UPDATE (§6.9)", () => {
  it("a WINDOW_UPDATE of 3 bytes closes the connection", limits, async (t) => {
    // FRAME_SIZE_ERROR.
    await runScenario(t, {
      onStream: thenAnswer((s) => windowUpdate(s.id, 100, 3)),
      expect: connectionError,
    });
  });

  it("a WINDOW_UPDATE of 0 on stream 0 closes the connection", limits, async (t) => {
    // §6.9: an increment of 0 is a PROTOCOL_ERROR; on stream 0, a connection error.
    await runScenario(t, { onStream: thenAnswer(() => windowUpdate(0, 0)), expect: connectionError });
  });

  it("a WINDOW_UPDATE of 0 on a stream resets that stream only", limits, async (t) => {
    // §6.9: on a stream, a stream error of type PROTOCOL_ERROR.
    await runScenario(t, {
      onStream: thenAnswer((s) => windowUpdate(s.id, 0)),
      expect: { scope: "stream", code: Code.Internal },
    });
  });

  it("a connection send window pushed over 2^31-1 closes the connection", limits, async (t) => {
    // §6.9.1: FLOW_CONTROL_ERROR, connection error for the connection window.
    await runScenario(t, { onStream: thenAnswer(() => windowUpdate(0, maxWindow)), expect: connectionError });
  });

  it("a stream send window pushed over 2^31-1 resets that stream only", limits, async (t) => {
    await runScenario(t, {
      onStream: thenAnswer((s) => windowUpdate(s.id, maxWindow)),
      expect: { scope: "stream", code: Code.Internal },
    });
  });

  it(
    "a SETTINGS_INITIAL_WINDOW_SIZE change that overflows an open stream's window closes the connection",
    limits,
    async (t) => {
      // §6.9.2: the stream's window is raised to exactly 2^31-1 (legal), then the initial window
      // grows by 1, which moves every open stream's window: a FLOW_CONTROL_ERROR connection error.
      await runScenario(t, {
        onStream: thenAnswer(async (s) => [
          windowUpdate(s.id, maxWindow - (await clientWindow(s))),
          settings([[Setting.initialWindowSize, 65_536]]),
        ]),
        expect: connectionError,
      });
    },
  );
});

describe("receive windows (§6.9.1)", () => {
  it("DATA beyond a stream's window resets that stream (FLOW_CONTROL_ERROR)", limits, async (t) => {
    // A Snapshot nobody reads: the client returns no stream window, so after 4 MiB the peer has
    // none left, and sends 16 KiB more.
    // (The connection's window cannot be overrun this way: the client returns it as DATA
    // arrives, as grpc-go and nghttp2 do, and the stream windows bound what is held.)
    let staged: (go: boolean) => void = () => {};
    const ready = new Promise<boolean>((resolve) => {
      staged = resolve;
    });
    await runScenario(t, {
      deadlineMs: 4000,
      call: unreadSnapshots(1, ready),
      onStream: async (s) => {
        s.respond();
        const sent = await fillWindows([s]);
        // Window returned for data nobody read would be the bug this scenario exists to find.
        if (s.sendWindow > 0) throw new Error("the client returned stream window for data nobody read");
        const from = sent.get(s) ?? 0;
        s.conn.sendData(s.id, filler.subarray(from, from + 16_384));
        // Only once the client has answered the overflow does the caller read: window returned
        // before the client read the frame would make it fit. Bounded: a client that never
        // resets is then read, and fails the scenario's expectation.
        await waitUntil(() => s.resetCode !== undefined || s.conn.closedAt !== undefined, 3000);
        staged(true);
      },
      expect: { scope: "stream", code: Code.Internal },
    });
  });
});
