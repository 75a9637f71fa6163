import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { KV } from "@etcd-connect/api/etcdserverpb";
import { createUnaryCall, type SendUnary } from "./unary-call.js";

// `unary` is a plain function returning a promise, not an async one: these check that it still
// never throws, whichever step fails.
describe("createUnaryCall: failures are rejections", () => {
  const put = KV.method.put;

  it("rejects, not throws, when the call's headers cannot be built", async () => {
    const unary = createUnaryCall({ interceptors: [], send: () => Promise.reject(new Error("not sent")) });
    let result: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      result = unary(put, undefined, undefined, { "bad name": "x" }, {});
    });
    await assert.rejects(result as Promise<unknown>, TypeError);
  });

  it("rejects, not throws, when `send` throws, with its error", async () => {
    const send: SendUnary = () => {
      throw new Error("send threw");
    };
    const unary = createUnaryCall({ interceptors: [], send });
    let result: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      result = unary(put, undefined, 5_000, undefined, {});
    });
    await assert.rejects(result as Promise<unknown>, /send threw/);
  });

  it("rejects, not throws, when an interceptor throws", async () => {
    const unary = createUnaryCall({
      interceptors: [
        () => () => {
          throw new Error("interceptor threw");
        },
      ],
      send: () => Promise.reject(new Error("not sent")),
    });
    let result: Promise<unknown> | undefined;
    assert.doesNotThrow(() => {
      result = unary(put, undefined, undefined, undefined, {});
    });
    await assert.rejects(result as Promise<unknown>, /interceptor threw/);
  });
});
