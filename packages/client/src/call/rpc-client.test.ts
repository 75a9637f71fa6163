import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { KV, Lease, Maintenance } from "@etcd-connect/api/etcdserverpb";
import { createRpcClient } from "./rpc-client.js";

// Calls through createRpcClient behave as Connect's own client's: a unary call's message, stream
// messages in order, headers and trailers reported around them, errors from the server thrown.
describe("createRpcClient", () => {
  const transport = createRouterTransport(({ service }) => {
    service(Maintenance, {
      async *snapshot(_req, context) {
        context.responseHeader.set("x-phase", "head");
        context.responseTrailer.set("x-phase", "tail");
        yield { remainingBytes: 2n, blob: Uint8Array.of(1) };
        yield { remainingBytes: 0n, blob: Uint8Array.of(2) };
      },
    });
    service(KV, {
      range(request, context) {
        if (request.key.length === 0) throw new ConnectError("no key", Code.InvalidArgument);
        context.responseHeader.set("x-phase", "head");
        context.responseTrailer.set("x-phase", "tail");
        return { count: BigInt(request.key.length) };
      },
    });
    service(Lease, {
      async *leaseKeepAlive(requests) {
        for await (const request of requests) {
          if (request.ID === 0n) throw new ConnectError("no lease 0", Code.NotFound);
          yield { ID: request.ID, TTL: 10n };
        }
      },
    });
  });

  it("answers a unary call with its message and reports its header and trailer", async () => {
    const events: string[] = [];
    const answer = await createRpcClient(KV, transport).range(
      { key: Uint8Array.of(1, 2, 3) },
      {
        onHeader: (h) => events.push(`header ${h.get("x-phase")}`),
        onTrailer: (t) => events.push(`trailer ${t.get("x-phase")}`),
      },
    );
    assert.equal(answer.count, 3n);
    assert.deepEqual(events, ["header head", "trailer tail"]);
    assert.equal((await createRpcClient(KV, transport).range({ key: Uint8Array.of(1) })).count, 1n);
  });

  it("rejects a unary call with the server's error, and with a transport's throw", async () => {
    await assert.rejects(createRpcClient(KV, transport).range({}), { code: Code.InvalidArgument });
    const throwing = {
      ...transport,
      unary() {
        throw new ConnectError("thrown", Code.Internal);
      },
    };
    let pending: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      pending = createRpcClient(KV, throwing).range({ key: Uint8Array.of(1) });
    });
    await assert.rejects(pending as Promise<unknown>, { code: Code.Internal, rawMessage: "thrown" });
  });

  it("hands out a server stream's messages between its header and its trailer", async () => {
    const events: string[] = [];
    const stream = createRpcClient(Maintenance, transport).snapshot(
      {},
      {
        onHeader: (h) => events.push(`header ${h.get("x-phase")}`),
        onTrailer: (t) => events.push(`trailer ${t.get("x-phase")}`),
      },
    );
    for await (const message of stream) events.push(`blob ${message.blob[0]}`);
    assert.deepEqual(events, ["header head", "blob 1", "blob 2", "trailer tail"]);
  });

  it("answers a bidi stream's requests in order and throws the server's error", async () => {
    async function* requests() {
      yield { ID: 7n };
      yield { ID: 8n };
      yield { ID: 0n };
    }
    const ids: bigint[] = [];
    await assert.rejects(
      (async () => {
        for await (const answer of createRpcClient(Lease, transport).leaseKeepAlive(requests()))
          ids.push(answer.ID);
      })(),
      (error: unknown) => error instanceof ConnectError && error.code === Code.NotFound,
    );
    assert.deepEqual(ids, [7n, 8n]);
  });

  it("leaves a failed stream's error to its first read", async () => {
    const failing = createRouterTransport(({ service }) => {
      service(Maintenance, {
        // biome-ignore lint/correctness/useYield: fails before its first message
        async *snapshot() {
          throw new ConnectError("refused", Code.PermissionDenied);
        },
      });
    });
    const stream = createRpcClient(Maintenance, failing).snapshot({});
    // Not read for a while: no unhandled rejection in the meantime (node:test would report it).
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(stream[Symbol.asyncIterator]().next(), { code: Code.PermissionDenied });
  });
});
