import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  Lock,
  type LockRequest,
  LockResponseSchema,
  type UnlockRequest,
  UnlockResponseSchema,
} from "@etcd-connect/api/v3lockpb";
import { EtcdError } from "../errors.js";
import { createLockService, nonEmptyBytes } from "./lock-service.js";

async function failure(promise: Promise<unknown>): Promise<EtcdError> {
  return promise.then(
    () => assert.fail("expected a failure"),
    (error: unknown) => {
      assert.ok(error instanceof EtcdError, `not an EtcdError: ${String(error)}`);
      return error;
    },
  );
}

// A Lock service in memory: records requests and the deadline each call carried.
function fakeLockService(fail?: ConnectError) {
  const locks: LockRequest[] = [];
  const unlocks: UnlockRequest[] = [];
  const timeouts: (number | undefined)[] = [];
  const transport = createRouterTransport(({ service }) =>
    service(Lock, {
      lock(request, context) {
        locks.push(request);
        timeouts.push(context.timeoutMs());
        if (fail !== undefined) throw fail;
        const key = new Uint8Array([...request.name, 0x2f, 0x61]);
        return create(LockResponseSchema, { key, header: { revision: 7n } });
      },
      unlock(request) {
        unlocks.push(request);
        return create(UnlockResponseSchema, { header: { revision: 8n } });
      },
    }),
  );
  return { locks: createLockService(createClient(Lock, transport)), sent: { locks, unlocks, timeouts } };
}

describe("createLockService", () => {
  it("sends the name as UTF-8 and the lease as a bigint, and returns the key and header", async () => {
    const { locks, sent } = fakeLockService();
    const res = await locks.lock("locks/ä", { lease: 0x2an });
    assert.deepEqual(sent.locks[0]?.name, new TextEncoder().encode("locks/ä"));
    assert.equal(sent.locks[0]?.lease, 42n);
    assert.deepEqual(res.key, new TextEncoder().encode("locks/ä/a"));
    assert.equal(res.header?.revision, 7n);
  });

  it("takes bytes names, number leases and a timeout", async () => {
    const { locks, sent } = fakeLockService();
    await locks.lock(new Uint8Array([0, 255]), { lease: 7, timeoutMs: 5000 });
    assert.deepEqual(sent.locks[0]?.name, new Uint8Array([0, 255]));
    assert.equal(sent.locks[0]?.lease, 7n);
    const timeout = sent.timeouts[0];
    assert.ok(timeout !== undefined && timeout > 0 && timeout <= 5000, `deadline ${timeout}`);
  });

  it("unlocks by key", async () => {
    const { locks, sent } = fakeLockService();
    const res = await locks.unlock("locks/x/a");
    assert.deepEqual(sent.unlocks[0]?.key, new TextEncoder().encode("locks/x/a"));
    assert.equal(res.header?.revision, 8n);
  });

  const badLocks: [string, () => Parameters<ReturnType<typeof createLockService>["lock"]>, RegExp][] = [
    ["an empty name", () => ["", { lease: 1 }], /name must not be empty/],
    ["an empty bytes name", () => [new Uint8Array(), { lease: 1 }], /name must not be empty/],
    ["a name that is not bytes", () => [42 as unknown as string, { lease: 1 }], /name must be a string/],
    ["no options", () => ["n", undefined as unknown as { lease: number }], /lease is required/],
    ["no lease", () => ["n", {} as { lease: number }], /lease is required/],
    ["lease 0", () => ["n", { lease: 0 }], /lease must be >= 1/],
    ["a negative lease", () => ["n", { lease: -5n }], /lease must be >= 1/],
    ["a fractional lease", () => ["n", { lease: 1.5 }], /lease must be an integer/],
  ];
  for (const [what, args, message] of badLocks) {
    it(`refuses ${what} before sending`, async () => {
      const { locks, sent } = fakeLockService();
      const error = await failure(locks.lock(...args()));
      assert.equal(error.reason, "invalid_argument");
      assert.match(error.message, message);
      assert.equal(sent.locks.length, 0);
    });
  }

  it("refuses an empty key to unlock before sending", async () => {
    const { locks, sent } = fakeLockService();
    const error = await failure(locks.unlock(""));
    assert.equal(error.reason, "invalid_argument");
    assert.equal(sent.unlocks.length, 0);
  });

  it("turns etcd's answers into EtcdErrors with their reasons", async () => {
    const { locks } = fakeLockService(
      new ConnectError("etcdserver: requested lease not found", Code.Unknown),
    );
    const error = await failure(locks.lock("n", { lease: 99 }));
    assert.equal(error.reason, "lease_not_found");
    assert.equal(error.code, Code.Unknown);
  });
});

describe("nonEmptyBytes", () => {
  it("encodes text and passes bytes through", () => {
    assert.deepEqual(nonEmptyBytes("name", "a/b"), new Uint8Array([0x61, 0x2f, 0x62]));
    const bytes = new Uint8Array([1, 2]);
    assert.equal(nonEmptyBytes("name", bytes), bytes);
  });

  it("names the argument in its errors", () => {
    assert.throws(
      () => nonEmptyBytes("leader.key", new Uint8Array()),
      (error: unknown) => EtcdError.is(error, "invalid_argument") && /leader\.key/.test(error.message),
    );
    assert.throws(
      () => nonEmptyBytes("key", null as unknown as string),
      (error: unknown) =>
        EtcdError.is(error, "invalid_argument") && /key must be a string/.test(error.message),
    );
  });
});
