// Watch streams (bidirectional, long-lived): a bad answer on the Watch stream must fail that
// stream (the engine then re-creates it) without hanging the watch, raising process warnings
// (a handler that throws from a socket read), or harming the connection's other calls. Here
// the scenario's "call" is a whole watch: opened, left to meet the fault, then aborted; the
// harness checks that a unary call still works on the same connection afterwards.

import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import { EtcdError } from "@etcd-connect/client";
import { ErrorCode } from "./frames.js";
import { decodeWatchRequest, envelope, paths, watchResponse } from "./grpc.js";
import type { HeaderFields } from "./hpack-writer.js";
import { type PeerStream, type RawPeer, sleep, waitUntil } from "./raw-peer.js";
import { limits, runScenario, type Scenario, watchThenAbort } from "./scenario.js";

/** Reads the watch's create request and answers it: created, with the client's watch id. */
async function created(s: PeerStream): Promise<bigint> {
  const request = decodeWatchRequest(await s.message());
  const watchId = request.requestUnion.case === "createRequest" ? request.requestUnion.value.watchId : 0n;
  s.respond();
  s.sendMessage(watchResponse({ watchId, created: true }));
  return watchId;
}

const watchStreams = (peer: RawPeer) => peer.streams.filter((s) => s.path === paths.watch);

/** The first Watch stream gets created, then `trailers` ending it. */
function badTrailers(trailers: HeaderFields): Scenario {
  let trailed = false;
  return {
    onStream: async (s) => {
      await created(s);
      await sleep(50);
      s.trail(trailers);
      trailed = true;
    },
    call: (client, peer) =>
      watchThenAbort(client, async () => {
        await waitUntil(() => trailed, 2000);
        // Enough for a client that resumes to open its next stream (backoff ~100 ms).
        await waitUntil(() => watchStreams(peer).length > 1, 1000);
      }),
    deadlineMs: 4000,
    expect: { scope: "healthy" },
  };
}

describe("malformed trailers on a watch stream", () => {
  it(
    "a grpc-message with a bad % escape neither hangs the watch nor breaks the connection",
    limits,
    async (t) => {
      // Unavailable with a message that does not decode: the watch resumes, nothing throws.
      await runScenario(
        t,
        badTrailers([
          ["grpc-status", `${Code.Unavailable}`],
          ["grpc-message", "%zz% not an escape"],
        ]),
      );
    },
  );

  it("a bad grpc-status-details-bin neither hangs the watch nor breaks the connection", limits, async (t) => {
    await runScenario(
      t,
      badTrailers([
        ["grpc-status", `${Code.Unavailable}`],
        ["grpc-status-details-bin", "!!not*base64!!"],
      ]),
    );
  });

  it("a bad grpc-status neither hangs the watch nor breaks the connection", limits, async (t) => {
    await runScenario(t, badTrailers([["grpc-status", "0x0e"]]));
  });
});

describe("fragments nobody asked for", () => {
  it(
    "fragment:true on a watch that did not ask for fragments resets the stream instead of accumulating",
    limits,
    async (t) => {
      // etcd only fragments for watches created with fragment: true. Without that, a peer could
      // send "fragments" forever and the client would pile up events without delivering any.
      // The peer keeps within the client's windows, so only the fragment rule can stop it.
      let target: PeerStream | undefined;
      let done = false;
      let sent = 0;
      // Aborting the watch resets its stream too (CANCEL): only a reset before that counts.
      let resetBeforeAbort: number | undefined;
      await runScenario(t, {
        onStream: async (s) => {
          target = s;
          const watchId = await created(s);
          const event = {
            type: 0,
            kv: { key: Buffer.from("k"), value: Buffer.alloc(2000, 120), modRevision: 2n },
          };
          const fragment = envelope(watchResponse({ watchId, fragment: true, events: [event] } as never));
          for (let i = 0; i < 3000 && s.resetCode === undefined && s.conn.closedAt === undefined; i++) {
            await waitUntil(
              () => Math.min(s.sendWindow, s.conn.sendWindow) >= fragment.length || s.resetCode !== undefined,
              1000,
            );
            if (s.resetCode !== undefined) break;
            s.conn.sendData(s.id, fragment);
            sent++;
            if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          done = true;
        },
        call: (client, peer) =>
          watchThenAbort(client, async () => {
            await waitUntil(() => done || target?.resetCode !== undefined, 5000);
            resetBeforeAbort = target?.resetCode;
            await waitUntil(() => watchStreams(peer).length > 1, 1000);
          }),
        deadlineMs: 7000,
        expect: { scope: "healthy" },
        check: () => {
          if (resetBeforeAbort === undefined) {
            throw new Error(`the client did not reset watch stream ${target?.id} (${sent} fragments sent)`);
          }
          if (resetBeforeAbort === ErrorCode.noError)
            throw new Error("the watch stream was reset with NO_ERROR");
        },
      });
    },
  );
});

describe("a watch refused with a reason the client does not know", () => {
  it("ends that watch with a typed error; the stream and its other watches stay", limits, async (t) => {
    let streams = 0;
    let refusal: unknown;
    await runScenario(t, {
      target: (s) => s.path === paths.watch,
      onStream: async (s) => {
        streams++;
        await created(s);
        // The second watch: refused as etcd 3.4 refuses a create (watch id -1), with a reason
        // outside etcd's catalogue of errors worth moving for.
        await s.message(2);
        s.sendMessage(
          watchResponse({
            watchId: -1n,
            created: true,
            canceled: true,
            cancelReason: "a reason nobody knows",
          }),
        );
      },
      call: async (client) => {
        const kept = client.watch("kept/", { prefix: true });
        await kept.ready;
        const refused = client.watch("refused");
        refusal = await refused.ready.then(
          () => undefined,
          (error: unknown) => error,
        );
        await refused.close();
        await kept.close();
      },
      deadlineMs: 4000,
      expect: { scope: "healthy" },
      check: () => {
        if (!EtcdError.is(refusal)) throw new Error(`the refused watch's ready gave ${String(refusal)}`);
        if (!refusal.message.includes("a reason nobody knows"))
          throw new Error(`the refusal's message lost the server's reason: ${refusal.message}`);
        // A stream moved for it would have been opened again, and refused again, without end.
        if (streams !== 1) throw new Error(`${streams} watch streams opened for one refusal`);
      },
    });
  });
});
