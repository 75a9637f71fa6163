import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createClient, EtcdError, opGet, opPut } from "@etcd-connect/client";
import { createTestCertificates, integrationOptions, type TestCertificates } from "@etcd-connect/testing";
import { startUnixEtcd, type UnixEtcd } from "./unix-etcd.js";

// etcd serving gRPC on a Unix socket (`--listen-client-urls unix://...`), plaintext and TLS.

describe("unix:// endpoints against etcd on a Unix socket", integrationOptions(), () => {
  let etcd: UnixEtcd;
  before(async () => {
    etcd = await startUnixEtcd();
  });
  after(async () => {
    await etcd?.close();
  });

  it("serves unary calls, a watch and a lease keepalive over the socket", async () => {
    await using client = createClient({ endpoints: [etcd.endpoint] });
    assert.deepEqual(client.endpoints, [etcd.endpoint]);
    const watcher = client.watch("unix/", { prefix: true });
    await watcher.ready;
    const put = await client.put("unix/k", "over a socket");
    assert.equal(await client.getText("unix/k"), "over a socket");
    const txn = await client.txn().then(opPut("unix/t", "1"), opGet("unix/k")).commit();
    assert.equal(txn.succeeded, true);
    for await (const batch of watcher) {
      assert.equal(batch.events[0]?.kv?.modRevision, put.header?.revision);
      break;
    }
    const { ID } = await client.lease.grant(10);
    const renewed = await client.lease.keepAliveOnce(ID);
    assert.equal(renewed.ID, ID);
    await client.lease.revoke(ID);
  });

  it("reaches the member by its unix URL for per-member calls", async () => {
    await using client = createClient({ endpoints: [etcd.endpoint] });
    const status = await client.maintenance.status(etcd.endpoint);
    assert.match(status.version, /^3\./);
    assert.notEqual(status.header?.memberId, undefined);
  });

  it("fails a socket nobody listens on as unavailable, naming the socket", async () => {
    const missing = `unix://${etcd.socketPath}.missing`;
    await using client = createClient({ endpoints: [missing], retry: false });
    await assert.rejects(client.get("k"), (error: unknown) => {
      assert.ok(EtcdError.is(error, "unavailable"), String(error));
      assert.match(error.message, /\.missing/);
      assert.match(error.message, /ENOENT/);
      return true;
    });
  });
});

describe("unixs:// endpoints against etcd serving TLS on a Unix socket", integrationOptions(), () => {
  let certificates: TestCertificates;
  let etcd: UnixEtcd;
  before(async () => {
    certificates = await createTestCertificates();
    etcd = await startUnixEtcd({ certificates });
  });
  after(async () => {
    await etcd?.close();
    await certificates?.remove();
  });

  it("checks the member's certificate against localhost and serves calls", async () => {
    assert.match(etcd.endpoint, /^unixs:\/\//);
    await using client = createClient({ endpoints: [etcd.endpoint], tls: { ca: certificates.ca.cert } });
    await client.put("unixs/k", "over TLS on a socket");
    assert.equal(await client.getText("unixs/k"), "over TLS on a socket");
  });

  it("refuses a certificate that does not name tls.servername", async () => {
    await using client = createClient({
      endpoints: [etcd.endpoint],
      tls: { ca: certificates.ca.cert, servername: "etcd.example" },
      retry: false,
    });
    await assert.rejects(client.get("unixs/k"), (error: unknown) => {
      assert.ok(error instanceof EtcdError, String(error));
      assert.match(error.message, /etcd\.example/);
      return true;
    });
  });

  it("refuses plaintext to a TLS socket: never falls back", async () => {
    const plain = etcd.endpoint.replace(/^unixs:/, "unix:");
    await using client = createClient({ endpoints: [plain], retry: false, dialTimeoutMs: 2000 });
    await assert.rejects(client.get("unixs/k"), (error: unknown) => EtcdError.is(error, "not_etcd"));
  });
});
