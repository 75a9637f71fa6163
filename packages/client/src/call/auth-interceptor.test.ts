import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createClient,
  createRouterTransport,
} from "@connectrpc/connect";
import { Auth, AuthenticateResponseSchema, KV, RangeResponseSchema } from "@etcd-connect/api/etcdserverpb";
import { toEtcdError } from "../errors.js";
import { type AuthInterceptorOptions, createAuthInterceptor } from "./auth-interceptor.js";

const key = new TextEncoder().encode("k");
const invalidToken = () => new ConnectError("etcdserver: invalid auth token", Code.Unauthenticated);

function transport(routes: (router: ConnectRouter) => void, options: AuthInterceptorOptions) {
  return createRouterTransport(routes, { transport: { interceptors: [createAuthInterceptor(options)] } });
}

// A KV service that records the token of every call and answers through `answer`.
function recordingKv(answer: (token: string | null) => void = () => {}) {
  const tokens: Array<string | null> = [];
  const routes = ({ service }: ConnectRouter) =>
    service(KV, {
      range(_req, context) {
        const token = context.requestHeader.get("token");
        tokens.push(token);
        answer(token);
        return create(RangeResponseSchema, { count: 1n });
      },
      async *rangeStream(_req, context) {
        tokens.push(context.requestHeader.get("token"));
        yield {};
      },
    });
  return { tokens, routes };
}

function countingAuthenticate(tokens: string[]) {
  let calls = 0;
  const authenticate = () => {
    const token = tokens[Math.min(calls, tokens.length - 1)] ?? "";
    calls++;
    return Promise.resolve(token);
  };
  return {
    authenticate,
    get calls() {
      return calls;
    },
  };
}

describe("auth interceptor with a fixed token", () => {
  it("sends the token header on unary and streaming calls", async () => {
    const { tokens, routes } = recordingKv();
    const kv = createClient(KV, transport(routes, { token: "tok-1" }));
    await kv.range({ key });
    for await (const _ of kv.rangeStream({ key })) {
      // drain
    }
    assert.deepEqual(tokens, ["tok-1", "tok-1"]);
  });

  it("does not retry when etcd rejects the token: there is nothing to refresh", async () => {
    const { tokens, routes } = recordingKv(() => {
      throw invalidToken();
    });
    const kv = createClient(KV, transport(routes, { token: "tok-1" }));
    await assert.rejects(kv.range({ key }), (e: unknown) => toEtcdError(e).reason === "invalid_auth_token");
    assert.equal(tokens.length, 1);
  });
});

describe("auth interceptor with authenticate", () => {
  it("authenticates lazily, once, for 20 concurrent calls", async () => {
    const { tokens, routes } = recordingKv();
    const auth = countingAuthenticate(["t1"]);
    const kv = createClient(KV, transport(routes, { authenticate: auth.authenticate }));
    assert.equal(auth.calls, 0, "authenticated before any call");
    await Promise.all(Array.from({ length: 20 }, () => kv.range({ key })));
    assert.equal(auth.calls, 1);
    assert.equal(tokens.length, 20);
    assert.ok(tokens.every((t) => t === "t1"));
    await kv.range({ key });
    assert.equal(auth.calls, 1, "authenticated again although the token still works");
  });

  it("refreshes once for 20 concurrent calls rejected with an invalid token, and retries each once", async () => {
    let staleSeen = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { tokens, routes } = recordingKv((token) => {
      if (token === "stale") {
        // Hold the refresh until every call has been rejected, so all 20 want a new token.
        if (++staleSeen === 20) release();
        throw invalidToken();
      }
    });
    let authCalls = 0;
    const authenticate = async () => {
      authCalls++;
      await gate;
      return "fresh";
    };
    const kv = createClient(KV, transport(routes, { token: "stale", authenticate }));
    const results = await Promise.all(Array.from({ length: 20 }, () => kv.range({ key })));
    assert.equal(results.length, 20);
    assert.ok(results.every((r) => r.count === 1n));
    assert.equal(authCalls, 1);
    assert.equal(tokens.filter((t) => t === "stale").length, 20);
    assert.equal(tokens.filter((t) => t === "fresh").length, 20);
    assert.equal(tokens.length, 40);
  });

  it("refreshes on auth_old_revision too", async () => {
    const { tokens, routes } = recordingKv((token) => {
      if (token === "t1")
        throw new ConnectError("etcdserver: revision of auth store is old", Code.InvalidArgument);
    });
    const auth = countingAuthenticate(["t1", "t2"]);
    const kv = createClient(KV, transport(routes, { authenticate: auth.authenticate }));
    await kv.range({ key });
    assert.deepEqual(tokens, ["t1", "t2"]);
    assert.equal(auth.calls, 2);
  });

  it("retries only once when the fresh token is rejected too", async () => {
    const { tokens, routes } = recordingKv(() => {
      throw invalidToken();
    });
    const auth = countingAuthenticate(["t1", "t2", "t3"]);
    const kv = createClient(KV, transport(routes, { authenticate: auth.authenticate }));
    await assert.rejects(kv.range({ key }), (e: unknown) => toEtcdError(e).reason === "invalid_auth_token");
    assert.deepEqual(tokens, ["t1", "t2"]);
    assert.equal(auth.calls, 2);
  });

  it("does not retry or refresh on auth_failed", async () => {
    const { tokens, routes } = recordingKv(() => {
      throw new ConnectError(
        "etcdserver: authentication failed, invalid user ID or password",
        Code.InvalidArgument,
      );
    });
    const auth = countingAuthenticate(["t1", "t2"]);
    const kv = createClient(KV, transport(routes, { authenticate: auth.authenticate }));
    await assert.rejects(kv.range({ key }), (e: unknown) => toEtcdError(e).reason === "auth_failed");
    assert.equal(tokens.length, 1);
    assert.equal(auth.calls, 1);
  });

  it("does not retry or refresh on other errors", async () => {
    const { tokens, routes } = recordingKv(() => {
      throw new ConnectError("etcdserver: permission denied", Code.PermissionDenied);
    });
    const auth = countingAuthenticate(["t1", "t2"]);
    const kv = createClient(KV, transport(routes, { authenticate: auth.authenticate }));
    await assert.rejects(kv.range({ key }), (e: unknown) => toEtcdError(e).reason === "permission_denied");
    assert.equal(tokens.length, 1);
    assert.equal(auth.calls, 1);
  });

  it("fails the call when authentication fails, and tries again on the next call", async () => {
    const { tokens, routes } = recordingKv();
    let authCalls = 0;
    const authenticate = () => {
      authCalls++;
      return authCalls === 1
        ? Promise.reject(
            new ConnectError(
              "etcdserver: authentication failed, invalid user ID or password",
              Code.InvalidArgument,
            ),
          )
        : Promise.resolve("t2");
    };
    const kv = createClient(KV, transport(routes, { authenticate }));
    await assert.rejects(kv.range({ key }), (e: unknown) => toEtcdError(e).reason === "auth_failed");
    assert.equal(tokens.length, 0, "the call went out without a token");
    await kv.range({ key });
    assert.deepEqual(tokens, ["t2"]);
    assert.equal(authCalls, 2);
  });

  it("lets Authenticate itself through without a token", async () => {
    const seen: Array<string | null> = [];
    const auth = countingAuthenticate(["t1"]);
    const routes = ({ service }: ConnectRouter) =>
      service(Auth, {
        authenticate(_req, context) {
          seen.push(context.requestHeader.get("token"));
          return create(AuthenticateResponseSchema, { token: "server-token" });
        },
      });
    const client = createClient(Auth, transport(routes, { authenticate: auth.authenticate }));
    const res = await client.authenticate({ name: "root", password: "pw" });
    assert.equal(res.token, "server-token");
    assert.deepEqual(seen, [null]);
    assert.equal(auth.calls, 0);
  });

  it("puts a token on other Auth calls", async () => {
    const seen: Array<string | null> = [];
    const auth = countingAuthenticate(["t1"]);
    const routes = ({ service }: ConnectRouter) =>
      service(Auth, {
        userList(_req, context) {
          seen.push(context.requestHeader.get("token"));
          return {};
        },
      });
    const client = createClient(Auth, transport(routes, { authenticate: auth.authenticate }));
    await client.userList({});
    assert.deepEqual(seen, ["t1"]);
  });

  it("does not let one caller's abort fail another caller waiting on the same authentication", async () => {
    const { tokens, routes } = recordingKv();
    let release: (token: string) => void = () => {};
    let authCalls = 0;
    const authenticate = (signal: AbortSignal | undefined) => {
      authCalls++;
      return new Promise<string>((resolve, reject) => {
        release = resolve;
        signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    };
    const kv = createClient(KV, transport(routes, { authenticate }));
    const first = new AbortController();
    const firstCall = kv.range({ key }, { signal: first.signal });
    const secondCall = kv.range({ key });
    first.abort(new Error("first caller gave up"));
    await assert.rejects(firstCall);
    release("t1");
    const second = await secondCall.then(
      (res) => res,
      (error: unknown) =>
        assert.fail(`the second call failed with the first caller's abort: ${String(error)}`),
    );
    assert.equal(second.count, 1n);
    assert.deepEqual(tokens, ["t1"]);
    assert.ok(authCalls >= 1);
  });
});
