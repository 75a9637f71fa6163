import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Transport } from "@connectrpc/connect";
import { type ClientOptions, maxTimeoutMs, parseEndpoint, validateClientOptions } from "./client-options.js";
import { EtcdError } from "./errors.js";

// Only its shape is checked; nothing is sent through it.
const fakeTransport: Transport = {
  unary: () => Promise.reject(new Error("not used")),
  stream: () => Promise.reject(new Error("not used")),
};

function assertInvalid(call: () => unknown, message: RegExp): EtcdError {
  let caught: unknown;
  assert.throws(call, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(EtcdError.is(caught, "invalid_argument"), `expected invalid_argument, got ${String(caught)}`);
  assert.match(caught.message, message);
  return caught;
}

describe("parseEndpoint", () => {
  const accepted: Array<
    [string, { url: string; tls: boolean; host: string; port: number; socketPath?: string }]
  > = [
    ["http://127.0.0.1:2379", { url: "http://127.0.0.1:2379", tls: false, host: "127.0.0.1", port: 2379 }],
    [
      "https://etcd-0.example.com:2379",
      { url: "https://etcd-0.example.com:2379", tls: true, host: "etcd-0.example.com", port: 2379 },
    ],
    ["127.0.0.1:2379", { url: "http://127.0.0.1:2379", tls: false, host: "127.0.0.1", port: 2379 }],
    ["localhost:22379", { url: "http://localhost:22379", tls: false, host: "localhost", port: 22379 }],
    ["[::1]:2379", { url: "http://[::1]:2379", tls: false, host: "::1", port: 2379 }],
    ["https://[::1]:2379", { url: "https://[::1]:2379", tls: true, host: "::1", port: 2379 }],
    ["http://h:1/", { url: "http://h:1", tls: false, host: "h", port: 1 }],
    ["HTTP://Etcd:2379", { url: "http://etcd:2379", tls: false, host: "etcd", port: 2379 }],
    ["http://h", { url: "http://h", tls: false, host: "h", port: 80 }],
    ["https://h", { url: "https://h", tls: true, host: "h", port: 443 }],
    // Unix sockets: an absolute path, or etcd's own host:port form (a file in the working directory).
    [
      "unix:///var/run/etcd.sock",
      {
        url: "unix:///var/run/etcd.sock",
        tls: false,
        host: "localhost",
        port: 0,
        socketPath: "/var/run/etcd.sock",
      },
    ],
    [
      "unixs:///var/run/etcd.sock",
      {
        url: "unixs:///var/run/etcd.sock",
        tls: true,
        host: "localhost",
        port: 0,
        socketPath: "/var/run/etcd.sock",
      },
    ],
    [
      "unix://localhost:2379",
      { url: "unix://localhost:2379", tls: false, host: "localhost", port: 0, socketPath: "localhost:2379" },
    ],
    [
      "UNIXS://Etcd-0.example:2379",
      {
        url: "unixs://Etcd-0.example:2379",
        tls: true,
        host: "etcd-0.example",
        port: 0,
        socketPath: "Etcd-0.example:2379",
      },
    ],
    [
      "unix:///tmp/my%20dir/etcd.sock",
      {
        url: "unix:///tmp/my%20dir/etcd.sock",
        tls: false,
        host: "localhost",
        port: 0,
        socketPath: "/tmp/my dir/etcd.sock",
      },
    ],
  ];
  for (const [input, expected] of accepted) {
    it(`parses ${input}`, () => {
      assert.deepEqual({ ...parseEndpoint(input) }, expected);
    });
  }

  const rejected: Array<[string, RegExp]> = [
    ["", /invalid endpoint/],
    ["   ", /invalid endpoint/],
    ["ftp://x:1", /scheme must be http, https, unix or unixs/],
    ["unix://", /expected .*unix/],
    ["unix:///run/etcd.sock?x=1", /expected .*unix/],
    ["unix:///run/etcd.sock#x", /expected .*unix/],
    ["unix://user@localhost:2379", /expected .*unix/],
    ["unix:///run/%zz.sock", /bad percent escape/],
    ["unix:///run/%00.sock", /must not contain NUL/],
    ["http://h:1/path", /only scheme, host and port/],
    ["http://h:1?x=1", /only scheme, host and port/],
    ["http://h:1#frag", /only scheme, host and port/],
    ["http://user:pw@h:1", /only scheme, host and port/],
    ["not a url with spaces", /invalid endpoint/],
    ["http://h:99999", /invalid endpoint/],
  ];
  for (const [input, message] of rejected) {
    it(`rejects ${JSON.stringify(input)}`, () => {
      assertInvalid(() => parseEndpoint(input), message);
    });
  }

  it("rejects a non-string", () => {
    assertInvalid(() => parseEndpoint(2379 as unknown as string), /invalid endpoint/);
  });

  it("rejects an endpoint with user info without echoing its password", () => {
    const error = assertInvalid(
      () => parseEndpoint("http://root:hunter2@h:2379"),
      /only scheme, host and port/,
    );
    assert.ok(!error.message.includes("hunter2"), `password leaked: ${error.message}`);
  });
});

describe("validateClientOptions defaults", () => {
  const resolved = validateClientOptions({ endpoints: ["127.0.0.1:2379"] });

  const defaults: Array<[keyof typeof resolved, unknown]> = [
    ["dialTimeoutMs", 5000],
    ["requestTimeoutMs", undefined],
    ["keepAliveTimeMs", 10_000],
    ["keepAliveTimeoutMs", 5000],
    ["maxCallSendMsgSize", 2 * 1024 * 1024],
    ["maxCallRecvMsgSize", 2 ** 31 - 1],
    ["requireLeader", true],
    ["balancer", "round-robin"],
    ["autoSyncIntervalMs", 0],
    ["permitWithoutStream", false],
    ["rejectOldCluster", false],
    ["username", undefined],
    ["password", undefined],
    ["token", undefined],
    ["tls", undefined],
    ["logger", undefined],
  ];
  for (const [name, value] of defaults) {
    it(`${name} defaults to ${String(value)}`, () => {
      assert.equal(resolved[name], value);
    });
  }

  it("interceptors default to none and retry to its own defaults", () => {
    assert.deepEqual(resolved.interceptors, []);
    assert.deepEqual(resolved.retry, {});
  });

  it("parses the endpoints", () => {
    assert.deepEqual(
      resolved.endpoints.map((e) => e.url),
      ["http://127.0.0.1:2379"],
    );
  });
});

describe("validateClientOptions", () => {
  const base = { endpoints: ["http://127.0.0.1:2379"] };
  const tlsBase = { endpoints: ["https://etcd-0:2379", "https://etcd-1:2379"] };

  it("keeps given values", () => {
    const resolved = validateClientOptions({
      ...base,
      dialTimeoutMs: 1000,
      requestTimeoutMs: 3000,
      keepAliveTimeMs: 5000,
      keepAliveTimeoutMs: 100,
      maxCallSendMsgSize: 100,
      maxCallRecvMsgSize: 100,
      requireLeader: false,
      balancer: "pinned",
      autoSyncIntervalMs: 30_000,
      permitWithoutStream: true,
      retry: false,
    });
    assert.equal(resolved.dialTimeoutMs, 1000);
    assert.equal(resolved.requestTimeoutMs, 3000);
    assert.equal(resolved.keepAliveTimeMs, 5000);
    assert.equal(resolved.keepAliveTimeoutMs, 100);
    assert.equal(resolved.maxCallSendMsgSize, 100);
    assert.equal(resolved.maxCallRecvMsgSize, 100);
    assert.equal(resolved.requireLeader, false);
    assert.equal(resolved.balancer, "pinned");
    assert.equal(resolved.autoSyncIntervalMs, 30_000);
    assert.equal(resolved.permitWithoutStream, true);
    assert.equal(resolved.retry, false);
  });

  it("drops duplicate endpoints", () => {
    const resolved = validateClientOptions({ endpoints: ["a:1", "http://a:1", "http://a:1/", "b:1"] });
    assert.deepEqual(
      resolved.endpoints.map((e) => e.url),
      ["http://a:1", "http://b:1"],
    );
  });

  it("accepts https endpoints with tls options and a DNS servername", () => {
    const resolved = validateClientOptions({ ...tlsBase, tls: { servername: "etcd.example.com" } });
    assert.ok(resolved.endpoints.every((e) => e.tls));
    assert.equal(resolved.tls?.servername, "etcd.example.com");
  });

  it("accepts username with password, and a token alone", () => {
    assert.equal(validateClientOptions({ ...base, username: "u", password: "p" }).username, "u");
    assert.equal(validateClientOptions({ ...base, token: "t" }).token, "t");
  });

  it(`clamps requestTimeoutMs above ${maxTimeoutMs} to what grpc-timeout carries`, () => {
    assert.equal(maxTimeoutMs, 99_999_999);
    assert.equal(
      validateClientOptions({ ...base, requestTimeoutMs: 100_000_000 }).requestTimeoutMs,
      99_999_999,
    );
    assert.equal(validateClientOptions({ ...base, requestTimeoutMs: 2 ** 40 }).requestTimeoutMs, 99_999_999);
    assert.equal(
      validateClientOptions({ ...base, requestTimeoutMs: 99_999_999 }).requestTimeoutMs,
      99_999_999,
    );
  });

  const rejected: Array<[string, unknown, RegExp]> = [
    ["no options", undefined, /needs options/],
    ["no endpoints", { endpoints: [] }, /at least one/],
    ["endpoints that are not an array", { endpoints: "http://a:1" }, /at least one/],
    ["a bad endpoint", { endpoints: ["ftp://a:1"] }, /scheme must be http, https, unix or unixs/],
    ["mixed http and https", { endpoints: ["http://a:1", "https://b:1"] }, /mix http and https/],
    ["mixed unix and unixs", { endpoints: ["unix:///a.sock", "unixs:///b.sock"] }, /mix http and https/],
    ["mixed https and unix", { endpoints: ["https://a:1", "unix:///b.sock"] }, /mix http and https/],
    [
      "recv size below send size",
      { ...base, maxCallSendMsgSize: 1000, maxCallRecvMsgSize: 999 },
      /must not be below/,
    ],
    ["recv size below the default send size", { ...base, maxCallRecvMsgSize: 1024 }, /must not be below/],
    [
      "keepAliveTimeMs below 5000",
      { ...base, keepAliveTimeMs: 4999 },
      /keepAliveTimeMs must be an integer >= 5000/,
    ],
    ["username without password", { ...base, username: "u" }, /username needs a password/],
    ["password without username", { ...base, password: "p" }, /password needs a username/],
    [
      "token with username",
      { ...base, token: "t", username: "u", password: "p" },
      /either token or username/,
    ],
    ["an IPv4 servername", { ...tlsBase, tls: { servername: "10.0.0.1" } }, /servername must be a DNS name/],
    ["an IPv6 servername", { ...tlsBase, tls: { servername: "::1" } }, /servername must be a DNS name/],
    ["tls with only http endpoints", { ...base, tls: { ca: "pem" } }, /no endpoint is https/],
    ["tls with only unix endpoints", { endpoints: ["unix:///a.sock"], tls: { ca: "pem" } }, /or unixs/],
    ["a signal that is not an AbortSignal", { ...base, signal: {} }, /signal must be an AbortSignal/],
    ["a transport that is not a Transport", { transport: { unary() {} } }, /transport must be a Connect/],
    [
      "a transport with endpoints",
      { ...base, transport: fakeTransport },
      /endpoints or a transport, not both/,
    ],
    [
      "a transport with connection options",
      { transport: fakeTransport, tls: { ca: "pem" }, dialTimeoutMs: 10 },
      /tls, dialTimeoutMs configure the built-in transport/,
    ],
    ["neither endpoints nor transport", {}, /at least one etcd client URL/],
    ["an unknown balancer", { ...base, balancer: "random" }, /balancer must be/],
    ["a fractional dialTimeoutMs", { ...base, dialTimeoutMs: 1.5 }, /dialTimeoutMs must be an integer/],
    ["a zero dialTimeoutMs", { ...base, dialTimeoutMs: 0 }, /dialTimeoutMs must be an integer >= 1/],
    [
      "a NaN keepAliveTimeoutMs",
      { ...base, keepAliveTimeoutMs: Number.NaN },
      /keepAliveTimeoutMs must be an integer/,
    ],
    [
      "a fractional requestTimeoutMs",
      { ...base, requestTimeoutMs: 2.5 },
      /requestTimeoutMs must be an integer/,
    ],
    ["a zero requestTimeoutMs", { ...base, requestTimeoutMs: 0 }, /requestTimeoutMs must be an integer >= 1/],
    [
      "an infinite requestTimeoutMs",
      { ...base, requestTimeoutMs: Number.POSITIVE_INFINITY },
      /requestTimeoutMs/,
    ],
    [
      "a fractional keepAliveTimeMs",
      { ...base, keepAliveTimeMs: 6000.5 },
      /keepAliveTimeMs must be an integer/,
    ],
    [
      "a negative autoSyncIntervalMs",
      { ...base, autoSyncIntervalMs: -1 },
      /autoSyncIntervalMs must be an integer >= 0/,
    ],
    [
      "a fractional maxCallSendMsgSize",
      { ...base, maxCallSendMsgSize: 10.5 },
      /maxCallSendMsgSize must be an integer/,
    ],
  ];
  for (const [name, options, message] of rejected) {
    it(`rejects ${name}`, () => {
      assertInvalid(() => validateClientOptions(options as ClientOptions), message);
    });
  }
});

describe("validateClientOptions with a transport or a signal", () => {
  it("takes a transport instead of endpoints: no endpoints, the transport kept", () => {
    const resolved = validateClientOptions({ transport: fakeTransport, requestTimeoutMs: 100 });
    assert.deepEqual(resolved.endpoints, []);
    assert.equal(resolved.transport, fakeTransport);
    assert.equal(resolved.requestTimeoutMs, 100);
  });

  it("refuses a signal that is already aborted, as Go refuses a cancelled context", () => {
    const controller = new AbortController();
    controller.abort(new Error("shutting down"));
    let caught: unknown;
    assert.throws(
      () => validateClientOptions({ endpoints: ["127.0.0.1:2379"], signal: controller.signal }),
      (error: unknown) => {
        caught = error;
        return true;
      },
    );
    assert.ok(EtcdError.is(caught, "canceled"), String(caught));
    assert.match(caught.message, /signal is already aborted/);
    assert.equal((caught.cause as Error).message, "shutting down");
  });
});

describe("validateClientOptions keeps secrets out of errors", () => {
  const base = { endpoints: ["http://127.0.0.1:2379"] };
  const secret = "s3cr3t-value-7f1d";

  const cases: Array<[string, ClientOptions]> = [
    ["a password without username", { ...base, password: secret }],
    ["a token with username and password", { ...base, token: secret, username: "u", password: secret }],
    ["a password with a bad endpoint", { endpoints: ["ftp://h:1"], username: "u", password: secret }],
    ["a token with bad tls", { ...base, token: secret, tls: { servername: "10.0.0.1" } }],
  ];
  for (const [name, options] of cases) {
    it(`for ${name}`, () => {
      const error = assertInvalid(() => validateClientOptions(options), /./);
      assert.ok(!error.message.includes(secret), `secret leaked: ${error.message}`);
      assert.ok(!String(error.stack).includes(secret), "secret leaked into the stack");
    });
  }

  it("for a username without password, naming the problem", () => {
    const error = assertInvalid(() => validateClientOptions({ ...base, username: "u" }), /needs a password/);
    assert.doesNotMatch(error.message, /"u"/);
  });
});
