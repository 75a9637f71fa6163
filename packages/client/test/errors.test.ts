import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { DowngradeRequestSchema } from "@etcd-connect/api/etcdserverpb";
import {
  type Client,
  createClient,
  EtcdError,
  type EtcdErrorReason,
  opPut,
  toEtcdError,
} from "@etcd-connect/client";
import { type EtcdMember, integrationOptions, startEtcd } from "@etcd-connect/testing";

function hasReason(reason: EtcdErrorReason, check?: (e: EtcdError) => void) {
  return (e: unknown) => {
    assert.ok(e instanceof EtcdError, `expected EtcdError, got ${String(e)}`);
    assert.equal(e.reason, reason, e.message);
    check?.(e);
    return true;
  };
}

describe("errors from a real etcd", integrationOptions(), () => {
  let etcd: EtcdMember;
  let client: Client;
  before(async () => {
    etcd = await startEtcd();
    client = createClient({ endpoints: [etcd.clientUrl] });
  });
  after(async () => {
    await client?.close();
    await etcd?.close();
  });

  it("future revision", async () => {
    await assert.rejects(client.get("k", { revision: 1_000_000 }), hasReason("future_revision"));
  });

  it("unknown lease", async () => {
    await assert.rejects(
      client.put("k", "v", { lease: 0x1234 }),
      hasReason("lease_not_found", (e) => {
        assert.equal(e.etcdMessage, "etcdserver: requested lease not found");
        assert.equal(e.indeterminate, false);
        assert.equal(e.endpoint, etcd.clientUrl);
      }),
    );
  });

  it("request too large for the server (over --max-request-bytes, under maxCallSendMsgSize)", async () => {
    const value = "x".repeat(1.6 * 1024 * 1024);
    await assert.rejects(client.put("big", value), hasReason("request_too_large"));
  });

  it("duplicate key in a txn", async () => {
    await assert.rejects(
      client.txn().then(opPut("dup", "1"), opPut("dup", "2")).commit(),
      hasReason("duplicate_key"),
    );
  });

  it("an RPC the server does not know answers unimplemented (Downgrade is etcd 3.5+)", async () => {
    const status = await client.rpc.maintenance.status({});
    const [major, minor] = status.version.split(".").map(Number);
    const error = await client.rpc.maintenance.downgrade(create(DowngradeRequestSchema, {})).then(
      () => undefined,
      (e: unknown) => toEtcdError(e),
    );
    if ((major ?? 0) === 3 && (minor ?? 0) < 5) {
      assert.equal(error?.reason, "unimplemented");
    } else {
      // Newer servers know the RPC; an empty target version is then refused.
      assert.ok(error instanceof EtcdError);
    }
  });

  it("a write that was sent and not answered is indeterminate, never retried", async () => {
    await etcd.pause();
    try {
      await assert.rejects(
        client.put("paused", "v", { timeoutMs: 300 }),
        hasReason("deadline_exceeded", (e) => {
          assert.equal(e.indeterminate, true);
          assert.match(e.message, /may have been applied/);
        }),
      );
      // A read in the same situation is not a write: never indeterminate.
      await assert.rejects(
        client.get("paused", { timeoutMs: 300 }),
        hasReason("deadline_exceeded", (e) => assert.equal(e.indeterminate, false)),
      );
    } finally {
      await etcd.resume();
    }
    // Applied at most once: a blind retry would have made version 2.
    const after = await client.get("paused");
    assert.ok((after.kvs[0]?.version ?? 0n) <= 1n);
  });

  it("errors keep the Connect code and the etcd message", async () => {
    const e = await client.get("k", { revision: 1_000_000 }).catch((x: unknown) => x);
    assert.ok(e instanceof EtcdError);
    assert.equal(e.code, 11); // OutOfRange
    assert.equal(e.etcdMessage, "etcdserver: mvcc: required revision is a future revision");
  });
});
